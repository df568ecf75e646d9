"""Round time with the engine's step blocks against fixed blocks of 8, in one
process, rounds alternating (this machine is noisy between processes).

`fedjax_sim.core.local_training.block_size` picks how many local steps a
client's examples are gathered for at once. Before, it was
`min(plan steps, 8)`: a 10-step plan ran blocks of 8 + 8 and gathered 6
unused steps' examples per client; now 5 + 5. Both programs are compiled in
this process (the block size is read when the round is traced), on the peer
suite's workloads with the `auto` layout over every core, then timed in
alternating order.

  python benchmarks/block_size_ab.py --workload=logistic --sizes=equal
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
from fedjax_sim.core import local_training  # noqa: E402

_WORKLOAD = flags.DEFINE_enum('workload', 'logistic', list(wl.WORKLOADS), 'Workload.')
_SIZES = flags.DEFINE_enum('sizes', 'equal', list(wl.SIZES), 'Client sizes.')
_CLIENTS = flags.DEFINE_integer('clients', 1000, 'Clients per round.')
_REPEATS = flags.DEFINE_integer('repeats', 15, 'Timed rounds of each (median).')


def main(argv):
  del argv
  fs.use_cpu_cores()
  engine = local_training.block_size
  variants = {'blocks of min(steps, 8)': lambda n: min(n, local_training.BLOCK_STEPS),
              'block_size (engine)': engine}
  runs = {}
  for name, size in variants.items():
    local_training.block_size = size  # read while the round is traced (its first call)
    runs[name], _ = jax_worker.engine_round(_WORKLOAD.value, _CLIENTS.value, 'auto',
                                            _SIZES.value)
    runs[name]()
    runs[name]()
  local_training.block_size = engine
  times = {name: [] for name in runs}
  for i in range(_REPEATS.value):
    for name in (list(runs) if i % 2 else list(runs)[::-1]):
      start = time.perf_counter()
      runs[name]()
      times[name].append(time.perf_counter() - start)
  print(f'{_WORKLOAD.value}, {_SIZES.value} sizes, {_CLIENTS.value} clients, auto; '
        f'median of {_REPEATS.value} alternating rounds:')
  for name, seconds in times.items():
    print(f'  {name:<26} {statistics.median(seconds):.5f} s')


if __name__ == '__main__':
  app.run(main)
