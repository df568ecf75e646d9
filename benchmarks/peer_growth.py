"""How round time and peak memory grow with clients per round, per system.

Each (system, clients) pair runs in a fresh worker: set-up and a warm-up
round, then `--repeats` timed rounds (median). Peak memory is the largest
resident set of the worker's whole process tree (Flower's Ray processes
included; pages shared between them count once per process) sampled every
50 ms from start to exit, and "data MB" is the size of the workload's client
arrays, which every system holds. A system whose next round is estimated
(linearly from its last) to exceed `--max_round_s` is skipped from there on.

  python benchmarks/peer_growth.py --workload=mlp --clients=10,100,1000,10000
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
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed rounds per point (median).')
_MAX_ROUND_S = flags.DEFINE_float('max_round_s', 120., 'Skip points estimated slower.')
_VENVS = flags.DEFINE_string('venvs', launch.DEFAULT_VENVS, "The peers' virtual environments.")


def measure(system: str, workload: str, clients: int, repeats: int, venvs: str,
            log_dir: str) -> tuple[float, int]:
  """Median round seconds and peak process-tree RSS bytes of one point."""
  command = launch.worker_command(system, workload, clients, repeats, venvs)
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
  print(f'workload {workload}: {wl.STEPS} local SGD steps of batch {wl.BATCH} per client; '
        f'{_REPEATS.value} timed rounds per point, medians; worker logs in {log_dir}')
  print('| system | clients | data MB | round s | client-steps/s | peak MB |')
  print('|---|---:|---:|---:|---:|---:|')
  for system in _SYSTEMS.value:
    last = None
    for clients in map(int, _CLIENTS.value):
      data_mb = clients * wl.EXAMPLES * (math.prod(shape) + 1) * 4 / 2**20
      if last and last[1] * clients / last[0] > _MAX_ROUND_S.value:
        print(f'| {system} | {clients} | {data_mb:,.0f} | skipped: about '
              f'{last[1] * clients / last[0]:,.0f} s estimated | | |', flush=True)
        continue
      seconds, peak = measure(system, workload, clients, _REPEATS.value, _VENVS.value, log_dir)
      last = (clients, seconds)
      print(f'| {system} | {clients} | {data_mb:,.0f} | {seconds:.4g} | '
            f'{clients * wl.STEPS / seconds:,.0f} | {peak / 2**20:,.0f} |', flush=True)


if __name__ == '__main__':
  app.run(main)
