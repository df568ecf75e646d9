"""Where a round's time goes, on the peer suite's workloads, with the
engine's defaults (`fs.use_cpu_cores()`, `auto`), in one process:

- `--ops`: a `jax.profiler` trace of `--rounds` rounds, summed by XLA op
  (thunk) name, per round over all devices (the profiler inflates small
  ops; compare ops against each other, not against the round time);
- `--bounds`: the round against variants that remove a piece of it, rounds
  interleaved (wrong results, for measuring only): `no_index` reads each
  step's batch as a contiguous slice of the client's row with an all-ones
  mask (no per-step example-index hashing, no row gather), `cheap_keys`
  replaces the client's threefry keys by an xor of the round key and its id;
- `--peak`: for the MLP, the round's FLOP rate (XLA's cost analysis of one
  local step, times the round's client-steps) as a fraction of a 2048^3 f32
  matmul timed in the same process, interleaved.

  python benchmarks/lane_profile.py --workload=logistic --sizes=equal --ops --bounds
  python benchmarks/lane_profile.py --workload=mlp --peak
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

import fedjax_sim as fs  # noqa: E402
import jax_worker  # noqa: E402
import workloads as wl  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'logistic', ['logistic', 'mlp'], 'Workload.')
_SIZES = flags.DEFINE_enum('sizes', 'equal', list(wl.SIZES), 'Client sizes.')
_CLIENTS = flags.DEFINE_integer('clients', 1000, 'Clients per round.')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Traced rounds (--ops).')
_REPEATS = flags.DEFINE_integer('repeats', 11, 'Timed rounds of each variant (median).')
_OPS = flags.DEFINE_bool('ops', False, 'Profile the round by XLA op.')
_BOUNDS = flags.DEFINE_bool('bounds', False, 'Time the round without some of its pieces.')
_PEAK = flags.DEFINE_bool('peak', False, 'MLP: the round against the matmul peak.')
_TOP = flags.DEFINE_integer('top', 30, 'Ops listed (--ops).')


def op_table(run) -> None:
  import jax
  with tempfile.TemporaryDirectory() as d:
    with jax.profiler.trace(d, create_perfetto_trace=True):
      for _ in range(_ROUNDS.value):
        run()
    trace = json.load(gzip.open(glob.glob(f'{d}/**/*.trace.json.gz', recursive=True)[0]))
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  total, calls = collections.Counter(), collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and not e['name'].startswith(('$', 'ThunkExecutor', 'Pjit',
                                                        'CommonPjRt')):
      total[e['name']] += e.get('dur', 0)
      calls[e['name']] += 1
  n = _ROUNDS.value
  print(f'XLA ops, per round over all devices ({n} traced rounds):')
  for name, us in total.most_common(_TOP.value):
    print(f'  {us / n / 1000:9.2f} ms {calls[name] / n:8.0f} calls  {name[:90]}')


def interleaved(runs: dict, repeats: int) -> dict[str, float]:
  times = {k: [] for k in runs}
  for i in range(repeats):
    for k in (list(runs) if i % 2 else list(runs)[::-1]):
      start = time.perf_counter()
      runs[k]()
      times[k].append(time.perf_counter() - start)
  return {k: statistics.median(v) for k, v in times.items()}


def bounds() -> None:
  import jax
  import jax.numpy as jnp
  from fedjax_sim.core import client_batches, round as round_lib
  step, key = client_batches.ClientBatches.step, round_lib.client_key

  def no_index(self, s):
    row = self.client_id if self.row is None else self.row
    b = self.stream.plan.batch_size
    return ({k: jax.lax.dynamic_slice_in_dim(jnp.asarray(v)[row], s * b, b)
             for k, v in self.examples.items()}, jnp.ones(b, bool))

  def cheap_keys(k, client_id):
    base = jax.random.key_data(k) ^ client_id.astype(jnp.uint32)
    return base, base + 1, base + 2

  variants = {'round': (step, key), 'no_index': (no_index, key),
              'cheap_keys': (step, cheap_keys)}
  runs = {}
  try:
    for name, (s, k) in variants.items():
      client_batches.ClientBatches.step, round_lib.client_key = s, k
      runs[name], _ = jax_worker.engine_round(_WORKLOAD.value, _CLIENTS.value, 'auto',
                                              _SIZES.value)
      runs[name]()  # compile (traced with this variant)
  finally:
    client_batches.ClientBatches.step, round_lib.client_key = step, key
  steps = client_steps()
  print(f'median of {_REPEATS.value} interleaved rounds:')
  for name, seconds in interleaved(runs, _REPEATS.value).items():
    print(f'  {name:<12} {seconds:.4f} s {steps / seconds:>12,.0f} client-steps/s')


def client_steps() -> int:
  return int(wl.client_steps(wl.client_sizes(_SIZES.value, _CLIENTS.value),
                             wl.schedule(_SIZES.value)).sum())


def peak(run, params) -> None:
  import jax
  import jax.numpy as jnp
  import optax
  model, shape = jax_worker.build_model(_WORKLOAD.value)
  plan = wl.schedule(_SIZES.value)

  def step(p, x, y):
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
        model.apply(p, x), y).mean()
    return jax.tree.map(lambda a, g: a - wl.LR * g, p, jax.grad(loss)(p))

  cost = jax.jit(step).lower(params, jnp.zeros((plan.batch,) + shape),
                             jnp.zeros(plan.batch, jnp.int32)).compile().cost_analysis()
  flop = (cost[0] if isinstance(cost, list) else cost)['flops']
  a = jnp.ones((2048, 2048), jnp.float32)
  matmul = jax.jit(lambda a: a @ a)
  matmul(a).block_until_ready()
  seconds = interleaved({'round': run, 'matmul': lambda: matmul(a).block_until_ready()},
                        _REPEATS.value)
  rate = client_steps() * flop / seconds['round']
  top = 2 * 2048 ** 3 / seconds['matmul']
  print(f'step {flop / 1e6:.2f} MFLOP; round {seconds["round"]:.4f} s = {rate / 1e9:.1f} '
        f'GFLOP/s; 2048^3 matmul {top / 1e9:.1f} GFLOP/s; {100 * rate / top:.1f}% of peak')


def main(argv):
  del argv
  fs.use_cpu_cores()
  run, params = jax_worker.engine_round(_WORKLOAD.value, _CLIENTS.value, 'auto', _SIZES.value)
  run()
  if _OPS.value:
    op_table(run)
  if _BOUNDS.value:
    bounds()
  if _PEAK.value:
    peak(run, params)


if __name__ == '__main__':
  app.run(main)
