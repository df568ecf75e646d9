"""How close one core can get to its matmul peak on the MLP's local steps.

The equal-size MLP workload of `round_throughput.py` (784-200-10, FedAvg, 10
local SGD steps of batch 20) on ONE core with single-threaded matmuls
(`--xla_cpu_multi_thread_eigen=false`, run pinned with `taskset -c 0`), from
the bare matmuls up to the engine's round, each as GFLOP/s of the step's
XLA FLOP count and as a fraction of the same core's large-matmul peak:

- peak: a 2048x2048 fp32 matmul;
- the step's two large matmuls in a loop (forward x @ W1, weight gradient
  x^T @ dh): the dots alone, then with the SGD update of W1 they feed;
- a hand-written local-SGD scan over pre-batched data (`round_throughput`'s
  baseline), clients scanned one at a time;
- the engine's round, `sequential`.

  taskset -c 0 python benchmarks/step_ceiling.py [--clients=100] [--repeats=5]
"""

from __future__ import annotations

import os
import sys

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                           + ' --xla_cpu_multi_thread_eigen=false')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app  # noqa: E402

import fedjax_sim as fs  # noqa: E402
import round_throughput as rt  # noqa: E402
from flops import matmul_peak  # noqa: E402

# Flags (shared with round_throughput): --clients (the first value is used), --repeats.
_CLIENTS, _REPEATS = rt._CLIENTS, rt._REPEATS
LOOP = 2000  # iterations of the bare-matmul loops


def matmul_loops() -> dict[str, tuple[float, float]]:
  """`name -> (seconds, GFLOP)` of the step's large matmuls, looped."""
  x, dh = jnp.ones((rt.BATCH, rt.FEATURES)), jnp.ones((rt.BATCH, rt.HIDDEN))
  w = jnp.ones((rt.FEATURES, rt.HIDDEN))
  gflop = 2 * rt.BATCH * rt.FEATURES * rt.HIDDEN * LOOP / 1e9  # one dot, looped
  step = jnp.float32(1e-9)
  bodies = {  # the loop index enters each dot, so none is hoisted out of its loop
      'forward dot x @ W1': (lambda i, h: (x + i * step) @ w, jnp.zeros_like(dh), 1),
      'weight-gradient dot x^T @ dh': (lambda i, g: x.T @ (dh + i * step), w, 1),
      'both dots, with the SGD update of W1': (lambda i, w: w - step * (x.T @ (x @ w)), w, 2),
  }
  out = {}
  for name, (body, init, dots) in bodies.items():
    loop = jax.jit(lambda c, body=body: jax.lax.fori_loop(0, LOOP, body, c))
    out[name] = (rt.median_seconds(lambda: loop(init).block_until_ready(), _REPEATS.value),
                 dots * gflop)
  return out


def main(argv):
  del argv
  jax.config.update('jax_num_cpu_devices', 1)
  model = fs.get_model('mlp', rt.CLASSES, {'hidden': (rt.HIDDEN,)})
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, rt.FEATURES)))
  peak = matmul_peak(_REPEATS.value) / 1e9  # GFLOP/s, 2048^3
  clients = int(_CLIENTS.value[0])
  data = jax.device_put(rt.make_data(clients))
  round_gflop = clients * rt.STEPS * rt.step_gflop(model, params)
  x, y = rt.baseline_batches(data)
  zeros = jax.tree.map(jnp.zeros_like, params)
  scan = jax.jit(lambda p, x, y: jax.lax.scan(
      lambda acc, xy: (jax.tree.map(jnp.add, acc, rt.local_sgd(model, p, *xy)), None),
      zeros, (x, y))[0])
  rows = matmul_loops()
  rows['hand-written local-SGD scan'] = (rt.median_seconds(
      lambda: jax.block_until_ready(scan(params, x, y)), _REPEATS.value), round_gflop)
  rows['engine round, sequential'] = (rt.median_seconds(
      rt.engine_runner(model, params, data, 'sequential'), _REPEATS.value), round_gflop)
  print(f'jax {jax.__version__}, one device, single-threaded matmuls, '
        f'cores allowed: {len(os.sched_getaffinity(0))}')
  print('| on one core | GFLOP/s | % of this core\'s peak |')
  print('|---|---:|---:|')
  print(f'| 2048x2048 matmul (peak) | {peak:.1f} | 100% |')
  for name, (seconds, gflop) in rows.items():
    print(f'| {name} | {gflop / seconds:.1f} | {100 * gflop / seconds / peak:.0f}% |')


if __name__ == '__main__':
  app.run(main)
