"""A sweep's results as a table of grid cells: the members that differ only
in `seed` form a cell, summarized as mean ± std over their seeds of the
final metric, best first. Frozen members are left out of the mean and named."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np


class MemberResult(NamedTuple):
  """A member's swept values, its last evaluation (None: never evaluated)
  and the round it was frozen at (0: never)."""

  index: int
  values: dict[str, Any]
  last: dict[str, float] | None
  frozen_at: int


class Cell(NamedTuple):
  values: dict[str, Any]
  members: tuple[MemberResult, ...]
  mean: float
  std: float


def cells(results: list[MemberResult], metric: str = 'test_accuracy') -> list[Cell]:
  """The grid cells, best `metric` first (highest, or lowest for a loss);
  a cell whose members were all frozen comes last."""
  keyed: dict[tuple, list[MemberResult]] = {}
  for result in results:
    key = tuple((k, repr(v)) for k, v in result.values.items() if k != 'seed')
    keyed.setdefault(key, []).append(result)
  out = []
  for members in keyed.values():
    finals = [r.last[metric] for r in members if r.last and not r.frozen_at]
    values = {k: v for k, v in members[0].values.items() if k != 'seed'}
    mean = float(np.mean(finals)) if finals else math.nan
    std = float(np.std(finals)) if finals else math.nan
    out.append(Cell(values, tuple(members), mean, std))
  sign = 1. if 'loss' in metric else -1.
  return sorted(out, key=lambda c: (math.isnan(c.mean), sign * c.mean if c.members else 0))


def format_cells(table: list[Cell], metric: str = 'test_accuracy') -> str:
  """The cells as a text table: rank, swept values, mean ± std (n seeds),
  frozen members with their round."""
  if not table:
    return ''
  fields = list(table[0].values)
  head = ['rank'] + fields + [f'{metric} (mean ± std)', 'seeds', 'frozen']
  rows = [head]
  for rank, cell in enumerate(table, 1):
    live = [m for m in cell.members if not m.frozen_at]
    frozen = ', '.join(f'member {m.index} at round {m.frozen_at}'
                       for m in cell.members if m.frozen_at)
    score = '-' if math.isnan(cell.mean) else f'{cell.mean:.4f} ± {cell.std:.4f}'
    rows.append([str(rank)] + [f'{cell.values[f]:g}' if isinstance(cell.values[f], float)
                               else str(cell.values[f]) for f in fields]
                + [score, f'{len(live)}/{len(cell.members)}', frozen or '-'])
  widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
  lines = ['  '.join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
  return '\n'.join(lines[:1] + ['  '.join('-' * w for w in widths)] + lines[1:])
