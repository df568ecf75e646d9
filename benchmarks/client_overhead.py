"""Where a small model's round time goes on this machine: microseconds per
client of each piece of the engine's per-client work, timed alone over
`--clients` clients with `lax.map` (one client at a time, as the
`sequential` strategy runs them), next to a whole engine round.

Pieces: the per-client PRNG keys; the example shuffle (`client_batches`: a
swap-or-not permutation evaluated at every step's positions); gathering the client's `[steps, batch]`
examples; bare local SGD on pre-batched examples (the model's own cost);
for logistic regression, the two matmuls of its steps alone (forward and
weight gradient: XLA:CPU's floor for this model); and, for scale, a copy of
the whole data set (memory bandwidth).

  python benchmarks/client_overhead.py --workload=logistic --clients=1000
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from absl import app, flags  # noqa: E402

import jax_worker  # noqa: E402
import workloads as wl  # noqa: E402
from fedjax_sim.core.state import client_key  # noqa: E402
from fedjax_sim.data.batching import client_batches, plan_batches  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'logistic', list(wl.WORKLOADS), 'Workload.')
_CLIENTS = flags.DEFINE_integer('clients', 1000, 'Clients.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls (mean after a warm-up).')


def per_client_us(fn, args, clients: int, repeats: int) -> float:
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn(*args))
  return (time.perf_counter() - start) / repeats / clients * 1e6


def one_at_a_time(fn):
  return jax.jit(lambda *xs: jax.lax.map(lambda x: fn(*x), xs))


def local_sgd(model, params, xs, ys):
  def step(p, batch):
    grads = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
        model.apply(p, batch[0], None), batch[1]).mean())(p)
    return jax.tree.map(lambda a, g: a - wl.LR * g, p, grads), None
  return jax.lax.scan(step, params, (xs, ys))[0]


def step_dots(xs, kernel):
  """The matmuls of logistic regression's local steps alone: forward and
  weight gradient of each step's `[batch, features]` examples."""
  def step(w, x):
    return w - wl.LR * (x.T @ (x @ w)), None
  return jax.lax.scan(step, kernel, xs.reshape(xs.shape[:2] + (-1,)))[0]


def main(argv):
  del argv
  clients, repeats, workload = _CLIENTS.value, _REPEATS.value, _WORKLOAD.value
  model, shape = jax_worker.build_model(workload)
  x, y, _ = wl.make_data(workload, clients)
  x, y = jnp.asarray(x), jnp.asarray(y)
  ids = jnp.arange(clients, dtype=jnp.int32)
  keys = jax.random.split(jax.random.PRNGKey(0), clients)
  counts = jnp.full(clients, wl.EXAMPLES, jnp.int32)
  plan = plan_batches(wl.EXAMPLES, wl.BATCH, steps=wl.STEPS)
  indices, _ = jax.jit(jax.vmap(lambda k, c: client_batches(k, c, plan)))(
      keys, counts)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + shape))
  batched = (x.reshape((clients, wl.STEPS, wl.BATCH) + shape),
             y.reshape(clients, wl.STEPS, wl.BATCH))
  pieces = {
      'client keys (fold_in + split)': (one_at_a_time(lambda i: client_key(keys[0], i)), (ids,)),
      'shuffle (client_batches)': (one_at_a_time(
          lambda k, c: client_batches(k, c, plan)), (keys, counts)),
      'gather [steps, batch] examples': (one_at_a_time(lambda r, i: (x[r, i], y[r, i])),
                                         (ids, indices)),
      'bare local SGD (pre-batched)': (one_at_a_time(
          lambda bx, by: local_sgd(model, params, bx, by)), batched),
      'copy of the whole data set': (jax.jit(lambda a: a * 1.), (x,)),
  }
  if workload == 'logistic':
    kernel = jnp.zeros(wl.DENSE_LAYERS['logistic'][0])
    pieces['its steps\' two matmuls alone'] = (one_at_a_time(
        lambda bx: step_dots(bx, kernel)), batched[:1])
  run, _ = jax_worker.engine_round(workload, clients, 'sequential')
  print(f'{workload}, {clients} clients, {wl.STEPS} steps of batch {wl.BATCH}; '
        f'jax {jax.__version__}, {jax.devices()[0].platform}; microseconds per client:')
  for name, (fn, args) in pieces.items():
    print(f'  {name:<34} {per_client_us(fn, args, clients, repeats):8.1f}')
  print(f"  {'engine round (sequential)':<34} "
        f'{per_client_us(lambda: run() or 0, (), clients, repeats):8.1f}')


if __name__ == '__main__':
  app.run(main)
