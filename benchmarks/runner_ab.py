"""The runner's own cost: `scripts/train.py` of two checkouts, run in turn
(the order reversed every other pass), on the same config. Each run
evaluates every `--eval_every` rounds; the rounds/s of every evaluation but
the first (which includes compilation) is the runner's steady speed, its
per-round host work (sampling, placement, checks, logs) included.

  git worktree add /tmp/before <commit>
  python benchmarks/runner_ab.py --before=/tmp/before --after=. --passes=3 \\
      -- --config=configs/default.py:synthetic --config.rounds=400
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys

from absl import app, flags

_BEFORE = flags.DEFINE_string('before', None, 'Checkout measured first.', required=True)
_AFTER = flags.DEFINE_string('after', '.', 'Checkout measured second.')
_PASSES = flags.DEFINE_integer('passes', 3, 'Runs of each checkout.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 100, 'Rounds between evaluations.')


def rounds_per_sec(checkout: str, args: list[str]) -> list[float]:
  """Steady rounds/s of one run: its evaluations after the first."""
  out = subprocess.run([sys.executable, f'{checkout}/scripts/train.py', '--progress=lines',
                        *args, f'--config.eval_every={_EVAL_EVERY.value}'],
                       capture_output=True, text=True, check=True, cwd=checkout).stdout
  return [float(x) for x in re.findall(r'rounds/s ([\d.]+)', out)][1:]


def main(argv: list[str]) -> None:
  args = argv[1:]
  speeds = {_BEFORE.value: [], _AFTER.value: []}
  for i in range(_PASSES.value):
    order = list(speeds) if i % 2 == 0 else list(speeds)[::-1]
    for checkout in order:
      speeds[checkout] += rounds_per_sec(checkout, args)
  for checkout, values in speeds.items():
    print(f'{checkout}: median {statistics.median(values):.1f} rounds/s over {len(values)} '
          f'evaluation intervals ({", ".join(f"{v:.1f}" for v in values)})')
  before, after = (statistics.median(v) for v in speeds.values())
  print(f'after / before: {after / before:.3f}')


if __name__ == '__main__':
  app.run(main)
