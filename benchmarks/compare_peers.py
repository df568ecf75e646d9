"""fedjax_sim against FedJAX, Flower and a per-client `jax.jit` loop on one
workload, interleaved in one run.

All systems' workers start first (set-up and one warm-up round each) and run
one untimed calibration round; then every repetition times one sample of
each system in turn, the order rotating between repetitions (A B C, B C A,
...), so slow drifts of a shared machine hit all systems alike. A sample is
as many rounds back to back as fill `--sample_seconds` by the calibration
round (one for a round that long; so a 0.03 s round is not left to a single
timer reading), and counts their mean. Prints the median round time, real
client-steps/s (the steps clients really train, not padding), the
arithmetic rate as % of the CPU's matmul peak (FLOPs per example from XLA's
cost analysis of the fedjax_sim step times the examples trained; peak: the
fastest of 5 2048^3 float32 matmuls timed right before each sample, the
median of a system's, `peers/flops.py`: a shared VM's rate drifts by 30% over
minutes, so a peak timed once would misstate the later samples) and the
speed-up of the first system (system's time / its time) for each
clients-per-round value.
`--sizes=ragged` gives the clients heavy-tailed sizes (the same for every
system; see `peers/workloads.py`).

  bash benchmarks/peers/setup_venv.sh fedjax; bash benchmarks/peers/setup_venv.sh flower
  python benchmarks/compare_peers.py --workload=mlp --clients=10,100,1000 --repeats=5
  python benchmarks/compare_peers.py --workload=logistic --sizes=ragged --clients=1000 \
      --systems=fedjax_sim:auto,fedjax_sim:sequential@2,fedjax
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

from absl import flags  # noqa: E402

import flops  # noqa: E402
import launch  # noqa: E402
import workloads as wl  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'mlp', list(wl.WORKLOADS), 'Workload.')
_CLIENTS = flags.DEFINE_list('clients', ['10', '100', '1000'], 'Clients per round.')
_SYSTEMS = flags.DEFINE_list(
    'systems', ['fedjax_sim:sequential@2', 'fedjax_sim:sequential', 'jit_loop', 'fedjax', 'flower'],
    'Systems; the ratios are how much faster the first is. fedjax_sim:<strategy>[@<n>] '
    'runs the engine with that strategy, over a mesh of n CPU devices if given.')
_SIZES = flags.DEFINE_enum('sizes', 'equal', list(wl.SIZES), 'Client sizes.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed samples per system (median).')
_SAMPLE_SECONDS = flags.DEFINE_float(
    'sample_seconds', 1.0, 'Each timed sample of a system runs as many rounds back to back as '
    'fill about this many seconds (at least one, at most launch.MAX_ROUNDS_PER_SAMPLE; from an '
    'untimed calibration round after the warm-up) and counts their mean; 0: one round.')
_VENVS = flags.DEFINE_string('venvs', launch.DEFAULT_VENVS, "The peers' virtual environments.")


def compare(workload: str, clients: int, systems: list[str], repeats: int, venvs: str,
            log_dir: str, sizes: str,
            sample_seconds: float, peak: Callable[[], float]
            ) -> tuple[dict[str, list[float]], dict[str, int], dict[str, list[float]]]:
  """Each system's mean round time per timed sample, interleaved, its rounds
  per sample (`launch.rounds_per_sample`) and the `peak()` timed right
  before each of its samples."""
  workers = {}
  try:
    for system in systems:
      command = launch.worker_command(system, workload, clients,
                                      1 + repeats * launch.MAX_ROUNDS_PER_SAMPLE, venvs, sizes)
      log = os.path.join(log_dir, f"{system.replace(':', '_')}_{clients}.log")
      workers[system] = launch.Worker(system, command, log)
      workers[system].wait_ready()
    params = {s: w.info['num_params'] for s, w in workers.items()}
    if len(set(params.values())) != 1 or wl.NUM_PARAMS[workload] not in params.values():
      raise RuntimeError(f'the systems do not train the same model: parameters {params}, '
                         f'expected {wl.NUM_PARAMS[workload]}')
    rounds = {s: launch.rounds_per_sample(w.time_round(), sample_seconds)
              for s, w in workers.items()}
    times, peaks = {s: [] for s in systems}, {s: [] for s in systems}
    for r in range(repeats):
      for system in systems[r % len(systems):] + systems[:r % len(systems)]:
        peaks[system].append(peak())
        total = sum(workers[system].time_round() for _ in range(rounds[system]))
        times[system].append(total / rounds[system])
    return times, rounds, peaks
  finally:
    for worker in workers.values():
      worker.close()


def clients_per_round(values: list[str], sizes: str) -> list[int]:
  """`--clients` as integers that `sizes` can draw (at most its population)."""
  try:
    clients = [int(v) for v in values]
  except ValueError:
    launch.usage_error(f'--clients must be positive integers, got {",".join(values)!r}')
  for n in clients:
    if n < 1:
      launch.usage_error(f'--clients must be positive integers, got {n}')
    try:
      wl.client_sizes(sizes, n)
    except ValueError as e:
      launch.usage_error(str(e))
  return clients


def main(argv):
  del argv
  all_clients = clients_per_round(_CLIENTS.value, _SIZES.value)
  launch.check_sampling(_REPEATS.value, _SAMPLE_SECONDS.value)
  systems, log_dir = _SYSTEMS.value, tempfile.mkdtemp(prefix='compare_peers_')
  sizes, plan = _SIZES.value, wl.schedule(_SIZES.value)
  local = (f'{wl.STEPS} local SGD steps of batch {wl.BATCH}' if sizes == 'equal' else
           f'{sizes} sizes, 1 epoch of batch {plan.batch}')
  print(f'workload {_WORKLOAD.value}: {local} per client, '
        f'{wl.NUM_PARAMS[_WORKLOAD.value]:,} parameters; {_REPEATS.value} '
        f'interleaved samples of about {_SAMPLE_SECONDS.value:g} s or one round each, '
        f'medians of their mean round times; worker logs in {log_dir}')
  per_example = flops.step_flops(_WORKLOAD.value, plan.batch) / plan.batch
  print(f'{per_example * plan.batch / 1e6:,.2f} MFLOP per step of batch {plan.batch} '
        f'(XLA cost analysis); matmul peak (2048^3 float32) timed before each sample')
  print(f'| clients | system | round s (median) | client-steps/s | GFLOP/s | % peak | '
        f'{systems[0]} speed-up |')
  print('|---:|---|---:|---:|---:|---:|---:|')
  for clients in all_clients:
    counts = wl.client_sizes(sizes, clients)
    steps = wl.client_steps(counts, plan).sum()
    work = per_example * flops.examples_trained(counts, plan)
    times, rounds, peaks = compare(_WORKLOAD.value, clients, systems, _REPEATS.value,
                                   _VENVS.value, log_dir, sizes, _SAMPLE_SECONDS.value,
                                   lambda: flops.matmul_peak(5))
    print(f'{clients} clients: rounds per timed sample: '
          + ', '.join(f'{s} {n}' for s, n in rounds.items()), flush=True)
    medians = {s: statistics.median(t) for s, t in times.items()}
    peak = {s: statistics.median(p) for s, p in peaks.items()}
    print(f'{clients} clients: matmul peak before the samples (median, GFLOP/s): '
          + ', '.join(f'{s} {p / 1e9:.1f} ({min(peaks[s]) / 1e9:.1f}-{max(peaks[s]) / 1e9:.1f})'
                      for s, p in peak.items()), flush=True)
    for system in systems:
      rate = work / medians[system]
      print(f'| {clients} | {system} | {medians[system]:.4g} | '
            f'{steps / medians[system]:,.0f} | {rate / 1e9:.3g} | '
            f'{100 * rate / peak[system]:.0f}% | '
            f'{medians[system] / medians[systems[0]]:.1f}x |', flush=True)


if __name__ == '__main__':
  launch.run_app(main)
