"""A sweep's report (`write_sweep_report`) from its directory (`rundir.sweep_record`): the
final metric over two swept fields (a heatmap; bars for one), each cell's curve by round (mean,
min-max band over seeds), the cells table naming frozen members, links to members' reports."""

from __future__ import annotations

import html
import math
import os
import time
from typing import Any, NamedTuple, Sequence

import numpy as np

from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir import report, runlog, sweep_record
from fedjax_sim.rundir.sweep_table import Cell, MemberResult, cells


class Sweep(NamedTuple):
  """sweep.json's axes, mode, members; their metrics rows and frozen rows; results.json?"""
  workdir: str
  axes: dict[str, list]
  mode: str
  members: list[dict[str, Any]]
  rows: dict[int, list[dict[str, Any]]]
  frozen: dict[int, dict[str, Any]]
  finished: bool


class Grid(NamedTuple):
  """The final metric at the shown fields' values: mean and std over the live members
  (NaN: none), indexed `[ix]` or `[ix, iy]`; `best` (None: no live member)."""
  fields: tuple[str, ...]
  ticks: tuple[list, ...]
  mean: np.ndarray
  std: np.ndarray
  best: tuple[int, ...] | None


# A cell's metric by round: mean, min and max over its live members.
Curve = NamedTuple('Curve', [('cell', Cell), ('rounds', list), ('mean', np.ndarray),
                             ('low', np.ndarray), ('high', np.ndarray)])


def _problem(table: Any) -> str | None:
  """What is wrong with sweep.json's contents, if anything."""
  if table is None:
    return "does not exist: not a sweep's directory, or its sweep never started"
  if not isinstance(table, dict) or not isinstance(table.get('axes'), dict) or not all(
      isinstance(v, list) for v in table['axes'].values()):
    return "is malformed: it has no 'axes' object of lists"
  if not isinstance(table.get('members'), list):
    return "is malformed: it has no 'members' list"
  return next((f'is malformed: its member {i} has no integer index or no value of every axis'
               for i, m in enumerate(table['members']) if not (
                   isinstance(m, dict) and isinstance(m.get('index'), int) and isinstance(
                       m.get('values'), dict) and all(m['values'].get(k) in v
                                                      for k, v in table['axes'].items()))), None)


def load_sweep(workdir: str) -> Sweep:
  """Reads the sweep's files; a DataError if sweep.json is missing or malformed."""
  path = os.path.join(workdir, sweep_record.SWEEP)
  table = runlog.read_json(path)
  if problem := _problem(table):
    raise DataError(f'{path} {problem}')
  frozen = {row['member']: row for row in reversed(runlog.read_rows(
      os.path.join(workdir, sweep_record.FROZEN), sweep_record.ROW))}  # the first row of each
  members = [dict(m, dir=str(m.get('dir') or sweep_record.member_dir('', m['index'])))
             for m in table['members']]
  rows = {m['index']: runlog.read_jsonl(os.path.join(workdir, m['dir'], runlog.METRICS))
          for m in members}
  return Sweep(workdir, table['axes'], str(table.get('mode', 'product')), members, rows, frozen,
               os.path.isfile(os.path.join(workdir, sweep_record.RESULTS)))


def pick_metric(sweep: Sweep, metric: str | None) -> str:
  """`metric`, or test_accuracy (test_loss when no accuracy is recorded)."""
  recorded = sorted({k for rows in sweep.rows.values() for r in rows for k, v in r.items()
                     if report.is_number(v)} - report.NOT_METRICS)
  if metric is not None and recorded and metric not in recorded:
    raise ConfigError(f'--metric {metric!r} is not recorded by any member; recorded: '
                      + ', '.join(recorded))
  return metric or ('test_loss' if 'test_loss' in recorded and 'test_accuracy' not in recorded
                    else 'test_accuracy')


def shown_fields(sweep: Sweep, x: str | None = None, y: str | None = None) -> tuple[str, ...]:
  """`x` and `y`, by default sweep.json's first two non-seed axes (or one, or none)."""
  swept = [k for k in sweep.axes if k != 'seed']
  for flag, field in (('--x', x), ('--y', y)):
    if field is not None and field not in swept:
      raise ConfigError(f'{flag} {field!r} is not a swept field other than seed; swept: '
                        + (', '.join(swept) or 'seed only'))
  if x is not None and x == y:
    raise ConfigError(f'--x and --y are both {x!r}; name two different swept fields')
  x = x or next((k for k in swept if k != y), None)
  y = y or next((k for k in swept if k != x), None)
  return tuple(f for f in (x, y) if f is not None)


def member_results(sweep: Sweep, metric: str) -> list[MemberResult]:
  """Each member's values, last evaluation holding `metric` and frozen round."""
  return [MemberResult(m['index'], m['values'], next((r for r in sweep.rows[m['index']][::-1]
                                                      if report.is_number(r.get(metric))), None),
                       sweep.frozen.get(m['index'], {}).get('round', 0)) for m in sweep.members]


def grid(sweep: Sweep, results: Sequence[MemberResult], metric: str,
         fields: tuple[str, ...]) -> Grid:
  """The final `metric` at each value of `fields`: mean and std over the live members."""
  ticks = tuple(list(sweep.axes[f]) for f in fields)
  shape = tuple(len(t) for t in ticks)
  finals: dict[tuple, list[float]] = {}
  for r in results:
    if r.last is not None and not r.frozen_at:
      key = tuple(ticks[i].index(r.values[f]) for i, f in enumerate(fields))
      finals.setdefault(key, []).append(float(r.last[metric]))
  mean, std = np.full(shape, np.nan), np.full(shape, np.nan)
  for key, values in finals.items():
    mean[key], std[key] = np.mean(values), np.std(values)
  scores = np.where(np.isnan(mean), -np.inf, (-1 if 'loss' in metric else 1) * mean)
  best = tuple(int(i) for i in np.unravel_index(np.argmax(scores), shape)) if finals else None
  return Grid(fields, ticks, mean, std, best)


def curves(sweep: Sweep, table: Sequence[Cell], metric: str) -> list[Curve]:
  """Each cell's `metric` by round over its live (never frozen) members: mean,
  min and max over those evaluated at that round; cells without any left out."""
  out = []
  for cell in table:
    by_round: dict[int, list[float]] = {}
    for m in (m for m in cell.members if not m.frozen_at):
      for row in sweep.rows[m.index]:
        if report.is_number(row.get(metric)) and report.is_number(row.get('round')):
          by_round.setdefault(int(row['round']), []).append(float(row[metric]))
    if by_round:
      values = [by_round[r] for r in sorted(by_round)]
      out.append(Curve(cell, sorted(by_round), *(np.array([f(v) for v in values])
                                                for f in (np.mean, np.min, np.max))))
  return out


def fmt(value: Any) -> str:
  return f'{value:g}' if isinstance(value, float) else str(value)


def label(values: dict[str, Any]) -> str:
  """`client.optimizer.learning_rate=0.1` as `client.learning_rate=0.1`, joined."""
  short = lambda f: '.'.join(f.split('.')[::max(1, len(f.split('.')) - 1)])  # noqa: E731
  return ', '.join(f'{short(k)}={fmt(v)}' for k, v in values.items()) or 'all members'


def plot_grid(g: Grid, metric: str) -> bytes:
  """PNG of a heatmap (two fields) or bars (one), annotated with mean ± std, best in red."""
  from matplotlib.patches import Rectangle  # pylint: disable=import-outside-toplevel
  fig, ax = report.axes()
  fig.set_size_inches(max(6.4, 1.6 * len(g.ticks[0]) + 2), 4.8)
  two = len(g.fields) == 2
  if two:
    fig.colorbar(ax.imshow(g.mean.T, origin='lower', aspect='auto'), ax=ax, label=metric)
    ax.set(yticks=range(len(g.ticks[1])), yticklabels=[fmt(v) for v in g.ticks[1]],
           ylabel=g.fields[1])
    if g.best is not None:
      ax.add_patch(Rectangle((g.best[0] - .5, g.best[1] - .5), 1, 1, fill=False, ec='red', lw=3))
  else:
    ax.bar(range(len(g.mean)), np.nan_to_num(g.mean), yerr=np.nan_to_num(g.std), capsize=4,
           color=['tab:red' if (i,) == g.best else 'tab:blue' for i in range(len(g.mean))])
  for key in np.ndindex(g.mean.shape):
    text = ('no live member' if np.isnan(g.mean[key]) else
            f'{g.mean[key]:.4f}\n± {g.std[key]:.4f}' + ('\nbest' if key == g.best else ''))
    ax.text(*(key if two else (key[0], np.nan_to_num(g.mean[key]) / 2)), text, ha='center',
            va='center', fontsize=8, color='white', bbox=dict(fc='black', alpha=.35, lw=0))
  ax.set(xticks=range(len(g.ticks[0])), xticklabels=[fmt(v) for v in g.ticks[0]],
         xlabel=g.fields[0], ylabel=g.fields[1] if two else f'final {metric}',
         title=f'Final {metric}: mean ± std over seeds')
  fig.tight_layout()
  return report.png(fig)


def plot_curves(lines: Sequence[Curve], best: Cell | None, metric: str) -> bytes:
  """PNG of each cell's mean curve and min-max band, one colour per cell."""
  from matplotlib import colormaps  # pylint: disable=import-outside-toplevel
  fig, ax = report.axes()
  fig.set_size_inches(9, 4.8)
  palette = colormaps['tab10' if len(lines) <= 10 else 'tab20']
  for i, c in enumerate(lines):
    top = best is not None and c.cell.values == best.values
    ax.plot(c.rounds, c.mean, color=palette(i % palette.N), marker='o', markersize=3,
            lw=2.5 if top else 1.2, label=('★ best: ' if top else '') + label(c.cell.values))
    ax.fill_between(c.rounds, c.low, c.high, color=palette(i % palette.N), alpha=.2, lw=0)
  ax.set(title=f'{metric} by round: mean over seeds, band min-max', xlabel='round')
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
  fig.tight_layout()
  return report.png(fig)


def _link(sweep: Sweep, member: dict[str, Any]) -> str:
  """A link to a member's report.html, named by its index (and seed)."""
  seed = member['values'].get('seed')
  text = f'{member["index"]}' + (f' (seed {seed})' if seed is not None else '')
  rel = os.path.join(member['dir'], report.REPORT_HTML)
  return (f'<a href="{html.escape(rel)}">{html.escape(text)}</a>'
          if os.path.isfile(os.path.join(sweep.workdir, rel)) else f'{text}: no report')


def cells_html(sweep: Sweep, table: Sequence[Cell], metric: str) -> str:
  """The cells as `sweep_table.format_cells`' columns, and links to the members' reports."""
  fields, rows, by_index = list(table[0].values if table else ()), [], {
      m['index']: m for m in sweep.members}
  head = ['rank', *fields, f'final {metric} (mean ± std)', 'seeds live', 'frozen', 'members']
  for rank, cell in enumerate(table, 1):
    tds = [str(rank), *(fmt(cell.values[f]) for f in fields),
           '-' if math.isnan(cell.mean) else f'{cell.mean:.4f} ± {cell.std:.4f}',
           f'{sum(not m.frozen_at for m in cell.members)}/{len(cell.members)}',
           '; '.join(f'member {m.index} at round {m.frozen_at}: '
                     f'{sweep.frozen.get(m.index, {}).get("reason", "?")}'
                     for m in cell.members if m.frozen_at) or '-']
    rows.append(''.join(f'<td>{html.escape(t)}</td>' for t in tds) + '<td>'
                + ', '.join(_link(sweep, by_index[m.index]) for m in cell.members) + '</td>')
  return ('<table><tr>' + ''.join(f'<th>{html.escape(h)}</th>' for h in head) + '</tr>'
          + ''.join(f'<tr>{r}</tr>' for r in rows) + '</table>')


def _figure(file: str, caption: str) -> str:
  return (f'<figure><img src="{report.REPORT_DIR}/{file}" alt="{file[:-4]}">'
          f'<figcaption>{html.escape(caption)}</figcaption></figure>')


def grid_part(sweep: Sweep, g: Grid | None, results: Sequence[MemberResult],
              metric: str) -> tuple[str, bytes | None]:
  """The heatmap's HTML (its caption, or why there is none) and PNG."""
  if g is None or g.best is None:
    return '<p>No heatmap: ' + html.escape(
        'the sweep varies only seed, so its members form one cell (see the curves and the '
        'table).' if g is None else f'no live member recorded {metric}.') + '</p>', None
  rounds = sorted({r.last.get('round', 0) for r in results if r.last and not r.frozen_at})
  at = f'round {rounds[0]}' if len(rounds) == 1 else f'rounds {rounds[0]} to {rounds[-1]}'
  others = [k for k in sweep.axes if k not in g.fields and k != 'seed']
  over = ('the seeds' if 'seed' in sweep.axes else 'the members') + (
      f' and over {" and ".join(others)} (not shown)' if others else '')
  what, best = ('cell' if len(g.fields) == 2 else 'bar'), label(
      {f: g.ticks[i][j] for i, (f, j) in enumerate(zip(g.fields, g.best))})
  return _figure('grid.png', (
      f'Each {what}: the final {metric} (each member\'s last evaluation, {at}) at its '
      f'{" and ".join(g.fields)}, mean ± std over {over}. Frozen members are left out. The '
      f'best {what} ({"lowest" if "loss" in metric else "highest"} mean, in red): {best}.')
  ), plot_grid(g, metric)


def curves_part(sweep: Sweep, table: Sequence[Cell], metric: str) -> tuple[str, bytes | None]:
  """The curves' HTML (their caption, or why there are none) and PNG."""
  lines = curves(sweep, table, metric)
  if not lines:
    return f'<p>No curves: no live member recorded {html.escape(metric)}.</p>', None
  drawn = [c.cell.values for c in lines]
  missing = '; '.join(label(c.values) for c in table if c.values not in drawn)
  best = table[0] if len(table) > 1 and table[0].values in drawn else None
  return _figure('curves.png', (
      f'Each line: a cell\'s {metric} at each evaluated round, the mean over its seeds; its '
      'band, in the same colour, spans their min to max. Frozen members are left out'
      + (f'; no curve for {missing} (every member frozen)' if missing else '') + '.'
      + (' The best cell (first in the table) is marked ★ and drawn thicker.' if best else '')
  )), plot_curves(lines, best, metric)


def write_sweep_report(workdir: str, metric: str | None = None, x: str | None = None,
                       y: str | None = None) -> str:
  """Writes `<workdir>/report.html` and its PNGs for the sweep in `workdir`
  (`metric` over the swept fields `x` and `y`); returns the HTML path."""
  sweep = load_sweep(workdir)
  metric = pick_metric(sweep, metric)
  fields, results = shown_fields(sweep, x, y), member_results(sweep, metric)
  table = cells(results, metric)
  grid_html, grid_png = grid_part(
      sweep, grid(sweep, results, metric, fields) if fields else None, results, metric)
  curves_html, curves_png = curves_part(sweep, table, metric)
  os.makedirs(os.path.join(workdir, report.REPORT_DIR), exist_ok=True)
  for file, data in (('grid.png', grid_png), ('curves.png', curves_png)):
    if data is not None:
      runlog.write_atomic(os.path.join(workdir, report.REPORT_DIR, file), data)
  name = html.escape(os.path.basename(os.path.abspath(workdir)))
  axes = '; '.join(f'{k}: {", ".join(fmt(v) for v in vs)}' for k, vs in sweep.axes.items())
  runlog.write_atomic(path := os.path.join(workdir, report.REPORT_HTML), f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fedjax_sim sweep report: {name}</title>
<style>body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}</style>
</head><body><h1>fedjax_sim sweep report: {name}</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. {len(sweep.members)} members; the sweep {
    'finished (results.json written)' if sweep.finished else
    'is not finished (no results.json): the last evaluations so far'}.
Axes ({html.escape(sweep.mode)}): {html.escape(axes)}.</p>
<h2>Grid</h2>\n{grid_html}\n<h2>Curves</h2>\n{curves_html}
<h2>Cells</h2>\n{cells_html(sweep, table, metric)}\n</body></html>
""")
  return path
