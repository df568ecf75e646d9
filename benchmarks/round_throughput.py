"""Round throughput of the MLP workload, per strategy, against two baselines.

Workload: 784-200-10 MLP, FedAvg, 10 local SGD steps of batch 20 per client.
Prints client-steps/s for each engine strategy (`auto`, the default, over one
CPU device per core as `scripts/train.py` runs it; explicit strategies on
one device) and for two hand-written
baselines measured in the same run (a plain `jit(vmap)` over pre-batched data,
and a per-client `jit` loop), achieved GFLOP/s, and the % of this machine's fp32
matmul peak measured in the same run.

  python benchmarks/round_throughput.py [--clients=100,1000] [--repeats=5]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from absl import app, flags  # noqa: E402

import fedjax_sim as fs  # noqa: E402
from flops import matmul_peak  # noqa: E402
from fedjax_sim.models import masked_loss  # noqa: E402

_CLIENTS = flags.DEFINE_list('clients', ['100', '1000'], 'Clients per round.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions (median).')
_STRATEGIES = flags.DEFINE_list('strategies', ['auto', 'vmap', 'chunked:8', 'chunked:32',
                                               'sequential'],
                                'Engine strategies, chunked:K for chunk size K; `auto` '
                                'runs over one CPU device per core, the others on one.')
_BASELINES = flags.DEFINE_bool('baselines', True, 'Also time the baselines.')

STEPS, BATCH, FEATURES, HIDDEN, CLASSES, LR = 10, 20, 784, 200, 10, 0.05


def median_seconds(fn, repeats: int) -> float:
  """Median wall time of `fn()` (which must block) after one warm-up call."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def step_gflop(model, params) -> float:
  """XLA's FLOP count of one local SGD step on one client (no loops inside)."""
  x, y = jnp.zeros((BATCH, FEATURES)), jnp.zeros(BATCH, jnp.int32)
  mask = jnp.ones(BATCH, bool)
  step = jax.jit(lambda p: jax.grad(masked_loss, argnums=1)(
      model, p, {'x': x, 'y': y}, mask))
  return step.lower(params).compile().cost_analysis()['flops'] / 1e9


def make_data(num_clients: int) -> fs.FederatedData:
  rng = np.random.default_rng(0)
  n = STEPS * BATCH
  return fs.FederatedData(
      {'x': rng.normal(size=(num_clients, n, FEATURES)).astype(np.float32),
       'y': rng.integers(0, CLASSES, (num_clients, n)).astype(np.int32)},
      np.full(num_clients, n, np.int32))


def engine_runner(model, params, data, strategy: str):
  name, _, chunk = strategy.partition(':')
  algorithm = fs.fedavg(model, optax.sgd(LR), optax.sgd(1.))
  round_fn = fs.build_round(algorithm, fs.plan_batches(data.max_examples, BATCH, steps=STEPS),
                            name, int(chunk or 1))
  ids = jnp.arange(data.num_clients, dtype=jnp.int32)
  holder = [fs.init_state(algorithm, jax.tree.map(jnp.copy, params), data.num_clients)]

  def run():
    holder[0], metrics = round_fn(holder[0], data, ids, jax.random.PRNGKey(0))
    jax.block_until_ready(holder[0])
  return run


def baseline_batches(data):
  """Pre-batched `[clients, steps, batch, ...]` arrays for the baselines."""
  x = jnp.asarray(data.examples['x']).reshape(data.num_clients, STEPS, BATCH, FEATURES)
  y = jnp.asarray(data.examples['y']).reshape(data.num_clients, STEPS, BATCH)
  return x, y


def local_sgd(model, params, xs, ys):
  """Plain local SGD on one client; returns its model delta."""
  def loss(p, batch):
    return optax.softmax_cross_entropy_with_integer_labels(
        model.apply(p, batch[0], None), batch[1]).mean()

  def step(p, batch):
    g = jax.grad(loss)(p, batch)
    return jax.tree.map(lambda a, b: a - LR * b, p, g), None
  out, _ = jax.lax.scan(step, params, (xs, ys))
  return jax.tree.map(jnp.subtract, out, params)


def jit_vmap_runner(model, params, data):
  """What a JAX user writes first: jit(vmap(local_sgd)) + mean."""
  x, y = baseline_batches(data)

  @jax.jit
  def round_fn(p, x, y):
    deltas = jax.vmap(lambda a, b: local_sgd(model, p, a, b))(x, y)
    return jax.tree.map(lambda p, d: p + d.mean(0), p, deltas)
  return lambda: jax.block_until_ready(round_fn(params, x, y))


def per_client_loop_runner(model, params, data):
  """A per-client jitted local update in a Python loop, then the mean."""
  x, y = baseline_batches(data)
  client = jax.jit(lambda p, a, b: local_sgd(model, p, a, b))
  add = jax.jit(lambda acc, d: jax.tree.map(jnp.add, acc, d))

  def run():
    total = jax.tree.map(jnp.zeros_like, params)
    for c in range(data.num_clients):
      total = add(total, client(params, x[c], y[c]))
    jax.block_until_ready(jax.tree.map(lambda p, t: p + t / data.num_clients, params, total))
  return run


def main(argv):
  del argv
  fs.use_cpu_cores()  # what scripts/train.py does; `auto` then uses every core
  model = fs.get_model('mlp', CLASSES, {'hidden': (HIDDEN,)})
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, FEATURES)))
  peak = matmul_peak(_REPEATS.value) / 1e9  # GFLOP/s, 2048^3
  gflop = step_gflop(model, params)
  print(f'jax {jax.__version__}  devices {jax.devices()}  cpu cores {os.cpu_count()}')
  print(f'fp32 matmul peak (measured now): {peak:.1f} GFLOP/s; '
        f'one client step: {gflop * 1e3:.2f} MFLOP')
  print(f"{'clients':>7}  {'system':<22} {'round s':>8} {'client-steps/s':>15} "
        f"{'GFLOP/s':>8} {'% peak':>7}")
  for clients in map(int, _CLIENTS.value):
    data = jax.device_put(make_data(clients))
    runners = {f'engine {s}': engine_runner(model, params, data, s)
               for s in _STRATEGIES.value}
    if _BASELINES.value:
      runners['baseline jit(vmap)'] = jit_vmap_runner(model, params, data)
      runners['baseline per-client jit'] = per_client_loop_runner(model, params, data)
    for name, run in runners.items():
      seconds = median_seconds(run, _REPEATS.value)
      rate = clients * STEPS / seconds
      print(f'{clients:>7}  {name:<22} {seconds:>8.3f} {rate:>15.0f} '
            f'{rate * gflop:>8.1f} {100 * rate * gflop / peak:>6.1f}%', flush=True)


if __name__ == '__main__':
  app.run(main)
