"""The end-of-run summary: the evaluation history, round by round, and where
the run's report, metrics and checkpoints went."""

from __future__ import annotations

import os
from typing import Sequence

from fedjax_sim.rundir import report
from fedjax_sim.rundir import runlog
from fedjax_sim.rundir.workdir import CHECKPOINTS

COLUMNS = ('test_accuracy', 'test_loss', 'train_loss', 'sampled_clients_test_accuracy')


def summary(history: Sequence[dict[str, float]], workdir: str | None,
            seconds: float) -> str:
  """The history as a table (round and the `COLUMNS` it has), then the files;
  `seconds` is the run's wall time."""
  if not history:
    return ''
  columns = [c for c in COLUMNS if c in history[-1]]
  lines = [f'History: {len(history)} evaluations, round {history[-1]["round"]} reached '
           f'in {seconds:.1f} s',
           '  '.join(['round', *columns])]
  for evals in history:
    cells = [f'{evals["round"]:5d}'] + [f'{evals[c]:{len(c)}.4f}' for c in columns]
    lines.append('  '.join(cells))
  if workdir:
    lines += [f'report:      {os.path.join(workdir, report.REPORT_HTML)}',
              f'metrics:     {os.path.join(workdir, runlog.METRICS)}',
              f'checkpoints: {os.path.join(workdir, CHECKPOINTS)} '
              f'(newest: round {history[-1]["round"]})']
  return '\n'.join(lines)
