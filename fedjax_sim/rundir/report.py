"""A static HTML report of one run: metric plots, final metrics and config.

`write_report(workdir)` reads the run directory (see `fedjax_sim.rundir.runlog`),
writes PNG plots to `<workdir>/report/` and `<workdir>/report.html` that
embeds them. Every file is written atomically.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from fedjax_sim.rundir import runlog

if TYPE_CHECKING:
  from matplotlib.figure import Figure

REPORT_DIR = 'report'
REPORT_HTML = 'report.html'
# Plot name -> (title, metrics drawn in it); a plot is drawn if any is present.
CURVES = {
    'accuracy': ('Accuracy', ('test_accuracy', 'client_train_accuracy')),
    'loss': ('Loss', ('test_loss', 'train_loss')),
}
NOT_METRICS = frozenset({'round', 'time'})
VIRTUAL_TIME = 'virtual_time'  # on the virtual clock (fedjax_sim/behaviour/clock.py)
X_LABELS = {'round': 'round', VIRTUAL_TIME: 'virtual time (s)'}


def is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def series(rows: Sequence[dict[str, Any]], key: str, x: str = 'round'
           ) -> tuple[list[float], list[float]]:
  """(x, values) of the rows that hold a number for `key` and for `x`
  (rounds, or `virtual_time`)."""
  pairs = [(r[x], float(r[key])) for r in rows
           if is_number(r.get(key)) and is_number(r.get(x))]
  return [p[0] for p in pairs], [p[1] for p in pairs]


def has_virtual_time(rows: Sequence[dict[str, Any]]) -> bool:
  return any(is_number(r.get(VIRTUAL_TIME)) for r in rows)


def axes() -> tuple[Figure, Any]:
  """A figure rendered by Agg; no pyplot, so no global state and thread-safe.
  (matplotlib loads here, not with the runner: runs that stop at bad input,
  and `--list` or `--print_config`, start half a second sooner.)"""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  fig = Figure(figsize=(6.4, 4))
  FigureCanvasAgg(fig)
  return fig, fig.subplots()


def png(fig: Figure) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=100)
  return buffer.getvalue()


def plot_curves(rows: Sequence[dict[str, Any]], title: str, keys: Sequence[str],
                x: str = 'round') -> bytes:
  """PNG of each metric in `keys` vs `x` (round or virtual time)."""
  fig, ax = axes()
  for key in keys:
    xs, values = series(rows, key, x)
    if xs:
      ax.plot(xs, values, marker='o', markersize=3, label=key)
  ax.set(title=title, xlabel=X_LABELS[x])
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  return png(fig)


def plot_norms(norm_rows: Sequence[dict[str, Any]]) -> bytes:
  """PNG of the per-round distribution of client-update L2 norms."""
  finite = [(r['round'], [n for n in r.get('norms', []) if n is not None]) for r in norm_rows]
  rows = [(round_, norms) for round_, norms in finite if norms]  # null: a dropped client
  rounds = [round_ for round_, _ in rows]
  quantiles = np.array([np.quantile(norms, [0.0, 0.1, 0.5, 0.9, 1.0]) for _, norms in rows])
  fig, ax = axes()
  ax.fill_between(rounds, quantiles[:, 1], quantiles[:, 3], alpha=0.3, label='10-90%')
  ax.plot(rounds, quantiles[:, 2], label='median')
  ax.plot(rounds, quantiles[:, 0], ':', color='gray', linewidth=0.8, label='min / max')
  ax.plot(rounds, quantiles[:, 4], ':', color='gray', linewidth=0.8)
  ax.set(title='Client update L2 norm', xlabel='round')
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  return png(fig)


def _format(key: str, value: Any) -> str:
  if key == 'time' and is_number(value):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(value))
  if isinstance(value, float) and math.isfinite(value):
    return f'{value:.6g}'
  return str(value)


def _table(row: dict[str, Any]) -> str:
  cells = ''.join(f'<tr><th>{html.escape(k)}</th><td>{html.escape(_format(k, v))}</td></tr>'
                  for k, v in row.items())
  return f'<table>{cells}</table>'


def _html(workdir: str, images: Sequence[tuple[str, str]], final: dict[str, Any] | None,
          config: Any) -> str:
  name = html.escape(os.path.basename(os.path.abspath(workdir)))
  figures = ''.join(f'<figure><img src="{REPORT_DIR}/{html.escape(file)}" '
                    f'alt="{html.escape(alt)}">'
                    f'</figure>' for file, alt in images)
  metrics = _table(final) if final else '<p>No evaluations recorded yet.</p>'
  config_text = (json.dumps(config, indent=2) if config is not None
                 else f'No {runlog.CONFIG} found.')
  return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fedjax_sim report: {name}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
pre {{ background: #f5f5f5; padding: 1em; }}
</style></head><body>
<h1>fedjax_sim report: {name}</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>
<h2>Plots</h2>
{figures or '<p>Nothing to plot yet.</p>'}
<h2>Final metrics</h2>
{metrics}
<h2>Config</h2>
<pre>{html.escape(config_text)}</pre>
</body></html>
"""


def write_report(workdir: str) -> str:
  """Writes the plots and report.html of the run in `workdir`; returns the HTML path."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f'run directory {workdir!r} does not exist')
  rows = runlog.read_jsonl(os.path.join(workdir, runlog.METRICS))
  norm_rows = runlog.read_jsonl(os.path.join(workdir, runlog.CLIENT_NORMS))
  config = runlog.read_json(os.path.join(workdir, runlog.CONFIG))
  plots: list[tuple[str, str, bytes]] = []
  for name, (title, keys) in CURVES.items():
    if any(series(rows, k)[0] for k in keys):
      plots.append((f'{name}.png', title, plot_curves(rows, title, keys)))
      if has_virtual_time(rows):
        plots.append((f'{name}_{VIRTUAL_TIME}.png', f'{title} vs virtual time',
                      plot_curves(rows, f'{title} vs virtual time', keys, VIRTUAL_TIME)))
  shown = {k for _, keys in CURVES.values() for k in keys} | NOT_METRICS
  extra = sorted({k for r in rows for k, v in r.items() if k not in shown and is_number(v)})
  for key in extra:
    file = 'metric_' + re.sub(r'[^A-Za-z0-9_.-]', '_', key) + '.png'
    plots.append((file, key, plot_curves(rows, key, [key])))
  if any(n is not None for r in norm_rows for n in r.get('norms', [])):
    plots.append(('client_norms.png', 'Client update L2 norm', plot_norms(norm_rows)))
  os.makedirs(os.path.join(workdir, REPORT_DIR), exist_ok=True)
  for file, _, png in plots:
    runlog.write_atomic(os.path.join(workdir, REPORT_DIR, file), png)
  path = os.path.join(workdir, REPORT_HTML)
  images = [(file, title) for file, title, _ in plots]
  runlog.write_atomic(path, _html(workdir, images, rows[-1] if rows else None, config))
  return path
