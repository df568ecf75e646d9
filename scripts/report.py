"""Write a run's report, or a comparison of several runs.

`python scripts/report.py --workdir=/tmp/runs/fedavg` writes
`<workdir>/report.html` (plots, final metrics, config) for one run.
`python scripts/report.py --workdir=/tmp/runs` (a directory whose
subdirectories hold runs) or `--workdir=RUN_A,RUN_B --out=DIR` writes
`comparison.html`: every metric overlaid, runs that differ only in seed
grouped as mean ± std, and the config fields that differ.
`python scripts/report.py --workdir=/tmp/sweep` (a sweep's directory, holding
sweep.json) writes the sweep's `report.html`: the final `--metric` (default
test_accuracy) over the swept fields `--x` and `--y` as a heatmap, each cell's
curve by round, the cells table and links to the members' reports.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from absl import flags  # noqa: E402

from fedjax_sim import cli  # noqa: E402
from fedjax_sim.rundir import runlog, sweep_record  # noqa: E402
from fedjax_sim.rundir.comparison import write_comparison  # noqa: E402
from fedjax_sim.errors import ConfigError, DataError  # noqa: E402
from fedjax_sim.rundir.report import write_report  # noqa: E402
from fedjax_sim.rundir.sweep_report import write_sweep_report  # noqa: E402

_WORKDIR = flags.DEFINE_list(
    'workdir', None, 'A run directory, a directory of runs, or several run '
    'directories (comma-separated).')
_OUT = flags.DEFINE_string('out', None, 'Where the comparison goes (default: '
                           'the directory of runs given as --workdir).')
_METRIC = flags.DEFINE_string('metric', None, "A sweep's metric for its heatmap, curves and "
                              'cells (default: test_accuracy).')
_X = flags.DEFINE_string('x', None, "A sweep's swept field across its heatmap (default: the "
                         "first non-seed axis of sweep.json).")
_Y = flags.DEFINE_string('y', None, "A sweep's swept field up its heatmap (default: the next "
                         'non-seed axis).')


class UsageError(Exception):
  """Bad flags: one line, exit 2."""


def is_run(path: str) -> bool:
  return os.path.isfile(os.path.join(path, runlog.METRICS))


def is_sweep(path: str) -> bool:
  """A sweep's directory: sweep.json, or members/ (its sweep.json lost)."""
  return any(os.path.exists(os.path.join(path, name))
             for name in (sweep_record.SWEEP, sweep_record.MEMBERS))


def report(workdirs: list[str], out: str | None, metric: str | None = None,
           x: str | None = None, y: str | None = None) -> str:
  """Writes the report the flags ask for; returns its path."""
  if not workdirs:
    raise UsageError('--workdir is required')
  for path in workdirs:
    if not os.path.isdir(path):
      raise UsageError(f'--workdir {path!r} is not a directory')
  if len(workdirs) == 1 and out is None and is_sweep(workdirs[0]):
    return write_sweep_report(workdirs[0], metric, x, y)
  if (metric, x, y) != (None, None, None):
    raise UsageError("--metric, --x and --y are for a sweep's directory (one holding "
                     'sweep.json), without --out')
  if len(workdirs) == 1 and is_run(workdirs[0]) and out is None:
    return write_report(workdirs[0])
  if len(workdirs) == 1 and not is_run(workdirs[0]):
    runs = runlog.find_runs(workdirs[0])
    if not runs:
      raise UsageError(f'--workdir {workdirs[0]!r} holds no runs ({runlog.METRICS} '
                       'in it or in its subdirectories)')
    return write_comparison(runs, out or workdirs[0])
  missing = [path for path in workdirs if not is_run(path)]
  if missing:
    raise UsageError(f'--workdir {missing[0]!r} is not a run (no {runlog.METRICS})')
  if out is None:
    raise UsageError('--out is required to compare several --workdir runs')
  return write_comparison(workdirs, out)


def main(argv):
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]} (flags are --name=value)', file=sys.stderr)
    sys.exit(2)
  try:
    print(report(_WORKDIR.value or [], _OUT.value, _METRIC.value, _X.value, _Y.value))
  except (UsageError, ConfigError, DataError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  cli.run(main)
