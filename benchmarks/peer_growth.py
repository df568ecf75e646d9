"""How round time and peak memory grow with clients per round, per system.

Each (system, clients) pair runs in a fresh worker: set-up and a warm-up
round, then `--repeats` timed rounds (median). Peak memory is the largest
resident set of the worker's whole process tree (Flower's Ray processes
included; pages shared between them count once per process) sampled every
50 ms from start to exit, and "data MB" is the size of the workload's real
examples, which every system holds (fedjax_sim pads each client to the
largest). `--sizes=ragged` gives heavy-tailed client sizes; client-steps/s
counts the steps clients really train. A system whose next round is estimated
(linearly from its last) to exceed `--max_round_s` is skipped from there on.

  python benchmarks/peer_growth.py --workload=mlp --clients=10,100,1000,10000
  python benchmarks/peer_growth.py --workload=logistic --sizes=ragged --systems=fedjax_sim:auto,fedjax
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))

from absl import app, flags  # noqa: E402

import launch  # noqa: E402
import workloads as wl  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'mlp', list(wl.WORKLOADS), 'Workload.')
_CLIENTS = flags.DEFINE_list('clients', ['10', '100', '1000', '10000'], 'Clients per round.')
_SYSTEMS = flags.DEFINE_list('systems', ['fedjax_sim:sequential@2', 'jit_loop', 'fedjax', 'flower'],
                             'Systems to measure (as in compare_peers.py).')
_SIZES = flags.DEFINE_enum('sizes', 'equal', list(wl.SIZES), 'Client sizes.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed rounds per point (median).')
_MAX_ROUND_S = flags.DEFINE_float('max_round_s', 120., 'Skip points estimated slower.')
_VENVS = flags.DEFINE_string('venvs', launch.DEFAULT_VENVS, "The peers' virtual environments.")


def measure(system: str, workload: str, clients: int, repeats: int, venvs: str,
            log_dir: str, sizes: str = 'equal') -> tuple[float, int]:
  """Median round seconds and peak process-tree RSS bytes of one point."""
  command = launch.worker_command(system, workload, clients, repeats, venvs, sizes)
  worker = launch.Worker(system, command,
                         os.path.join(log_dir, f"{system.replace(':', '_')}_{clients}.log"))
  try:
    worker.wait_ready()
    seconds = statistics.median(worker.time_round() for _ in range(repeats))
  finally:
    worker.close()
  return seconds, worker.peak_rss


def main(argv):
  del argv
  workload, log_dir = _WORKLOAD.value, tempfile.mkdtemp(prefix='peer_growth_')
  shape, _ = wl.SHAPES[workload]
  sizes, plan = _SIZES.value, wl.schedule(_SIZES.value)
  local = (f'{wl.STEPS} local SGD steps of batch {wl.BATCH}' if sizes == 'equal' else
           f'{sizes} sizes, 1 epoch of batch {plan.batch}')
  print(f'workload {workload}: {local} per client; '
        f'{_REPEATS.value} timed rounds per point, medians; worker logs in {log_dir}')
  print('| system | clients | data MB | round s | client-steps/s | peak MB |')
  print('|---|---:|---:|---:|---:|---:|')
  for system in _SYSTEMS.value:
    last = None
    for clients in map(int, _CLIENTS.value):
      counts = wl.client_sizes(sizes, clients)
      steps = wl.client_steps(counts, plan).sum()
      data_mb = counts.sum() * (math.prod(shape) + 1) * 4 / 2**20
      if last and last[1] * clients / last[0] > _MAX_ROUND_S.value:
        print(f'| {system} | {clients} | {data_mb:,.0f} | skipped: about '
              f'{last[1] * clients / last[0]:,.0f} s estimated | | |', flush=True)
        continue
      seconds, peak = measure(system, workload, clients, _REPEATS.value, _VENVS.value, log_dir,
                              sizes)
      last = (clients, seconds)
      print(f'| {system} | {clients} | {data_mb:,.0f} | {seconds:.4g} | '
            f'{steps / seconds:,.0f} | {peak / 2**20:,.0f} |', flush=True)


if __name__ == '__main__':
  app.run(main)
