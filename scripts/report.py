"""Write `<workdir>/report.html` (plots, final metrics, config) for a run.

`python scripts/report.py --workdir=/tmp/runs/fedavg`
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from fedjax_sim.report import write_report  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory to report on.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _WORKDIR.value or not os.path.isdir(_WORKDIR.value):
    print(f'error: --workdir must be an existing directory, got {_WORKDIR.value!r}',
          file=sys.stderr)
    sys.exit(2)
  print(write_report(_WORKDIR.value))


if __name__ == '__main__':
  app.run(main)
