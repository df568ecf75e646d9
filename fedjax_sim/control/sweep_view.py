"""What the page shows of a sweep, read from its directory
(`fedjax_sim.rundir.sweep_record`): its progress in the runs list, and its
view: the final metric over two swept fields (mean ± std over the seeds and
the fields not shown, best cell), each cell's curve with its seeds' band,
the frozen members and the members' reports. The numbers are
`fedjax_sim.rundir.sweep_report`'s (scripts/report.py draws the same)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fedjax_sim.control.safety import Refused
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir import report, runlog, sweep_record, sweep_report
from fedjax_sim.rundir.sweep_table import cells


def is_sweep(run_dir: str, swept: bool = False, config: Any = None) -> bool:
  """Whether the run is a sweep: started as one (`swept`), its config.json
  (`config`) declaring axes, or holding sweep.json."""
  section = config.get('sweep') if isinstance(config, dict) else None
  return bool(swept or isinstance(section, dict) and section.get('axes')
              or os.path.isfile(os.path.join(run_dir, sweep_record.SWEEP)))


def member_rounds(run_dir: str) -> list[int]:
  """Rounds each member's directory recorded so far (none before sweep.json)."""
  root = os.path.join(run_dir, sweep_record.MEMBERS)
  names = sorted(os.listdir(root)) if os.path.isdir(root) else []
  out = []
  for name in names:
    last = runlog.last_record(os.path.join(root, name, runlog.CLIENT_NORMS))
    out.append(int(last['round']) if last else 0)
  return out


def progress(run_dir: str, rounds: int | None) -> dict[str, Any]:
  """The runs list's line of a sweep: members, member-rounds done of all,
  frozen members and the best cell's final test_accuracy so far."""
  members = frozen = best = None
  if os.path.isfile(os.path.join(run_dir, sweep_record.SWEEP)):
    try:
      sweep = sweep_report.load_sweep(run_dir)
      members, frozen = len(sweep.members), len(sweep.frozen)
      ranked = cells(sweep_report.member_results(sweep, 'test_accuracy'))
      best = ranked[0].mean if ranked else None
    except DataError:  # a sweep.json edited by hand: its view says so
      pass
  done = member_rounds(run_dir)
  return {'members': members, 'frozen': frozen, 'member_rounds': sum(done),
          'total': members * rounds if members and rounds else None, 'best': best}


def _fields(sweep: sweep_report.Sweep, x: str | None, y: str | None) -> tuple[str, ...]:
  """The shown fields (`sweep_report.shown_fields`), refused with the
  page's names for them."""
  try:
    return sweep_report.shown_fields(sweep, x or None, y or None)
  except ConfigError as e:  # in the command line's words
    raise Refused(str(e).replace('--x', 'x').replace('--y', 'y')) from None


def _grid(grid: sweep_report.Grid | None) -> dict[str, Any] | None:
  if grid is None:
    return None
  best = list(grid.best) if grid.best is not None else None
  return {'fields': list(grid.fields), 'ticks': [list(t) for t in grid.ticks],
          'mean': np.asarray(grid.mean).tolist(), 'std': np.asarray(grid.std).tolist(),
          'best': best, 'best_value': float(grid.mean[grid.best]) if best else None,
          'best_std': float(grid.std[grid.best]) if best else None}


def _members(sweep: sweep_report.Sweep) -> list[dict[str, Any]]:
  """Each member's index, values, directory name and whether it has a report."""
  return [{'index': m['index'], 'values': m['values'],
           'dir': os.path.basename(os.path.normpath(m['dir'])),
           'report': os.path.isfile(os.path.join(sweep.workdir, m['dir'], report.REPORT_HTML)),
           'frozen': sweep.frozen.get(m['index'])} for m in sweep.members]


def view(run_dir: str, x: str | None = None, y: str | None = None) -> dict[str, Any]:
  """The sweep's view: the grid of the final test_accuracy over `x` and `y`
  (default: the first two swept fields but seed), each cell's curve (mean
  over its live seeds, band min to max), frozen members, member reports.
  `ready` is False before the sweep wrote sweep.json."""
  if not os.path.isfile(os.path.join(run_dir, sweep_record.SWEEP)):
    return {'ready': False}
  sweep = sweep_report.load_sweep(run_dir)
  metric = sweep_report.pick_metric(sweep, None)
  fields = _fields(sweep, x, y)
  results = sweep_report.member_results(sweep, metric)
  table = cells(results, metric)
  best_cell = table[0] if table and not np.isnan(table[0].mean) else None
  curves = [{'label': sweep_report.label(c.cell.values), 'values': c.cell.values,
             'rounds': c.rounds, 'mean': c.mean.tolist(), 'low': c.low.tolist(),
             'high': c.high.tolist(), 'seeds': sum(not m.frozen_at for m in c.cell.members),
             'best': best_cell is not None and c.cell.values == best_cell.values}
            for c in sweep_report.curves(sweep, table, metric)]
  return {'ready': True, 'metric': metric, 'axes': sweep.axes, 'mode': sweep.mode,
          'finished': sweep.finished, 'choices': [k for k in sweep.axes if k != 'seed'],
          'grid': _grid(sweep_report.grid(sweep, results, metric, fields) if fields else None),
          'curves': curves, 'members': _members(sweep)}
