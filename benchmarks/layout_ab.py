"""Round time of several engine layouts in one process, rounds interleaved
(this machine is noisy between processes).

Each layout (`jax_worker.engine_round`'s form: `auto`, `<strategy>[:<chunk or
lanes>][@<devices>]`) is compiled on the same peer-suite workload, then the
layouts' rounds are timed in turn, the order reversed every other pass.
Prints each layout's median round time and real client-steps/s.

  python benchmarks/layout_ab.py --workload=logistic --sizes=ragged \
      --layouts=auto,chunked:8@2,lanes:8@2,lanes:32@2,vmap@2
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

import fedjax_sim as fs  # noqa: E402
import jax_worker  # noqa: E402
import workloads as wl  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'logistic', list(wl.WORKLOADS), 'Workload.')
_SIZES = flags.DEFINE_enum('sizes', 'ragged', list(wl.SIZES), 'Client sizes.')
_CLIENTS = flags.DEFINE_integer('clients', 1000, 'Clients per round.')
_LAYOUTS = flags.DEFINE_list('layouts', ['auto', 'chunked:8@2', 'lanes:8@2', 'vmap@2'],
                             'Layouts to compare.')
_REPEATS = flags.DEFINE_integer('repeats', 9, 'Timed rounds of each (median).')


def main(argv):
  del argv
  fs.use_cpu_cores()
  runs = {}
  for layout in _LAYOUTS.value:
    runs[layout], _ = jax_worker.engine_round(_WORKLOAD.value, _CLIENTS.value, layout,
                                              _SIZES.value)
    runs[layout]()  # compile
  times = {layout: [] for layout in runs}
  for i in range(_REPEATS.value):
    for layout in (list(runs) if i % 2 else list(runs)[::-1]):
      start = time.perf_counter()
      runs[layout]()
      times[layout].append(time.perf_counter() - start)
  steps = int(wl.client_steps(wl.client_sizes(_SIZES.value, _CLIENTS.value),
                              wl.schedule(_SIZES.value)).sum())
  print(f'{_WORKLOAD.value}, {_SIZES.value} sizes, {_CLIENTS.value} clients, {steps} real '
        f'client-steps per round; median of {_REPEATS.value} interleaved rounds:')
  for layout, seconds in times.items():
    median = statistics.median(seconds)
    print(f'  {layout:<14} {median:.4f} s  {steps / median:>10,.0f} client-steps/s')


if __name__ == '__main__':
  app.run(main)
