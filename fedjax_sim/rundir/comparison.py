"""A static HTML comparison of several runs: every metric overlaid on one chart
per metric, runs that differ only in seed grouped as mean ± std, a table of
the config fields that differ and the final metrics of each group.

`write_comparison(run_dirs, out_dir)` writes `<out_dir>/comparison.html` and
its plots under `<out_dir>/comparison/` (atomically, like `fedjax_sim.rundir.report`).
"""

from __future__ import annotations

import html
import os
import re
import time
from typing import Any, NamedTuple, Sequence

import numpy as np

from fedjax_sim.rundir import runlog
from fedjax_sim.rundir.report import (NOT_METRICS, VIRTUAL_TIME, X_LABELS, axes, has_virtual_time,
                               is_number, png, series)

COMPARISON_DIR = 'comparison'
COMPARISON_HTML = 'comparison.html'
SEED = 'seed'


class Run(NamedTuple):
  """One run directory's name, flattened config and metrics rows."""

  name: str
  config: dict[str, Any]
  rows: list[dict[str, Any]]


class Group(NamedTuple):
  """Runs whose configs are equal but for the seed."""

  label: str
  runs: list[Run]


def read_run(workdir: str, name: str) -> Run:
  config = runlog.read_json(os.path.join(workdir, runlog.CONFIG)) or {}
  return Run(name, runlog.flatten(config),
             runlog.read_jsonl(os.path.join(workdir, runlog.METRICS)))


def differing_fields(runs: Sequence[Run]) -> list[str]:
  """Config fields (dotted) whose values are not the same in every run."""
  fields = sorted({f for run in runs for f in run.config})
  return [f for f in fields if len({repr(run.config.get(f)) for run in runs}) > 1]


def group_by_seed(runs: Sequence[Run]) -> list[Group]:
  """Runs grouped by their config without the seed, in first-seen order; a
  group is labelled by its values of the differing fields (or its run name)."""
  fields = [f for f in differing_fields(runs) if f != SEED]
  groups: dict[tuple, list[Run]] = {}
  for run in runs:
    groups.setdefault(tuple(repr(run.config.get(f)) for f in fields), []).append(run)
  out = []
  for members in groups.values():
    first = members[0].config
    label = ', '.join(f'{f}={first.get(f)}' for f in fields) if fields else 'all runs'
    out.append(Group(label, members))
  return out


def metric_names(runs: Sequence[Run]) -> list[str]:
  """Every numeric metric that any run logged."""
  return sorted({k for run in runs for row in run.rows for k, v in row.items()
                 if k not in NOT_METRICS and is_number(v)})


def group_curve(group: Group, metric: str) -> tuple[list[int], np.ndarray, np.ndarray]:
  """`(rounds, mean, std)` of `metric` over the group's runs, at the rounds
  every run of the group logged it."""
  per_run = [dict(zip(*series(run.rows, metric))) for run in group.runs]
  rounds = sorted(set.intersection(*(set(s) for s in per_run)))
  if not rounds:
    return [], np.zeros(0), np.zeros(0)
  values = np.array([[s[r] for r in rounds] for s in per_run], np.float64)
  return rounds, values.mean(axis=0), values.std(axis=0)


def plot_metric(groups: Sequence[Group], metric: str) -> bytes:
  """PNG of `metric` vs round: a line per group, its ± std band when it has
  several seeds."""
  fig, ax = axes()
  for group in groups:
    rounds, mean, std = group_curve(group, metric)
    if not rounds:
      continue
    seeds = f' ({len(group.runs)} seeds)' if len(group.runs) > 1 else ''
    line, = ax.plot(rounds, mean, marker='o', markersize=3, label=group.label + seeds)
    if len(group.runs) > 1:
      ax.fill_between(rounds, mean - std, mean + std, color=line.get_color(), alpha=0.2)
  ax.set(title=metric, xlabel='round')
  ax.grid(alpha=0.3)
  _legend(ax)
  fig.tight_layout()
  return png(fig)


def _legend(ax) -> None:
  """A legend when something was drawn (none, and no warning, for a metric
  no run has)."""
  if ax.get_lines():
    ax.legend(fontsize='small')


def plot_virtual_time(runs: Sequence[Run], metric: str) -> bytes:
  """PNG of `metric` vs virtual time, a line per run (runs of different
  seeds have different clocks, so they are not averaged)."""
  fig, ax = axes()
  for run in runs:
    xs, values = series(run.rows, metric, VIRTUAL_TIME)
    if xs:
      ax.plot(xs, values, marker='o', markersize=3, label=run.name)
  ax.set(title=f'{metric} vs virtual time', xlabel=X_LABELS[VIRTUAL_TIME])
  ax.grid(alpha=0.3)
  _legend(ax)
  fig.tight_layout()
  return png(fig)


def final_metrics(group: Group, metrics: Sequence[str]) -> dict[str, tuple[float, float]]:
  """`metric -> (mean, std)` over the group's runs of each run's last logged value."""
  out = {}
  for metric in metrics:
    last = [series(run.rows, metric)[1][-1:] for run in group.runs]
    values = [v[0] for v in last if v]
    if values:
      out[metric] = (float(np.mean(values)), float(np.std(values)))
  return out


def _cell(value: Any) -> str:
  text = f'{value:.6g}' if isinstance(value, float) else str(value)
  return f'<td>{html.escape(text)}</td>'


def _html(runs: Sequence[Run], groups: Sequence[Group], metrics: Sequence[str],
          images: Sequence[tuple[str, str]]) -> str:
  fields = differing_fields(runs)
  config_rows = ''.join(f'<tr><th>{html.escape(run.name)}</th>'
                        + ''.join(_cell(run.config.get(f)) for f in fields) + '</tr>'
                        for run in runs)
  config_head = ''.join(f'<th>{html.escape(f)}</th>' for f in fields)
  final_head = ''.join(f'<th>{html.escape(m)}</th>' for m in metrics)
  final_rows = ''
  for group in groups:
    finals = final_metrics(group, metrics)
    cells = ''.join(
        _cell(f'{finals[m][0]:.4g} ± {finals[m][1]:.2g}' if len(group.runs) > 1
              else f'{finals[m][0]:.4g}') if m in finals else '<td></td>' for m in metrics)
    final_rows += (f'<tr><th>{html.escape(group.label)}</th><td>{len(group.runs)}</td>'
                   f'{cells}</tr>')
  figures = ''.join(f'<figure><img src="{COMPARISON_DIR}/{html.escape(file)}" '
                    f'alt="{html.escape(alt)}"></figure>' for file, alt in images)
  return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fedjax_sim comparison of {len(runs)} runs</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
</style></head><body>
<h1>fedjax_sim comparison of {len(runs)} runs</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. Runs that differ only in
<code>{SEED}</code> are grouped: lines are their mean, bands ± one std.</p>
<h2>Final metrics (mean ± std over seeds)</h2>
<table id="final"><tr><th>group</th><th>runs</th>{final_head}</tr>{final_rows}</table>
<h2>Config fields that differ</h2>
<table id="config"><tr><th>run</th>{config_head}</tr>{config_rows}</table>
<h2>Metrics</h2>
{figures or '<p>No evaluations recorded yet.</p>'}
</body></html>
"""


def write_comparison(run_dirs: Sequence[str], out_dir: str) -> str:
  """Writes the comparison of the runs in `run_dirs` to `out_dir`; returns
  the HTML path."""
  names = [os.path.relpath(d, out_dir) if os.path.abspath(d).startswith(
      os.path.abspath(out_dir) + os.sep) else os.path.abspath(d) for d in run_dirs]
  runs = [read_run(d, name) for d, name in zip(run_dirs, names)]
  groups = group_by_seed(runs)
  metrics = metric_names(runs)
  os.makedirs(os.path.join(out_dir, COMPARISON_DIR), exist_ok=True)
  images = []
  for metric in metrics:
    file = 'metric_' + re.sub(r'[^A-Za-z0-9_.-]', '_', metric) + '.png'
    runlog.write_atomic(os.path.join(out_dir, COMPARISON_DIR, file),
                        plot_metric(groups, metric))
    images.append((file, metric))
  if any(has_virtual_time(run.rows) for run in runs):
    for metric in [m for m in ('test_accuracy', 'test_loss') if m in metrics]:
      file = f'{metric}_{VIRTUAL_TIME}.png'
      runlog.write_atomic(os.path.join(out_dir, COMPARISON_DIR, file),
                          plot_virtual_time(runs, metric))
      images.append((file, f'{metric} vs virtual time'))
  path = os.path.join(out_dir, COMPARISON_HTML)
  runlog.write_atomic(path, _html(runs, groups, metrics, images))
  return path
