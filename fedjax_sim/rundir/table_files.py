"""Small numeric CSV files that configs name (client profiles, availability
traces): read whole, checked row by row, the first bad row one ConfigError
that names the field, the file and the line."""

from __future__ import annotations

import csv
import math
from typing import NamedTuple

import numpy as np

from fedjax_sim.errors import ConfigError


class Table(NamedTuple):
  """A file's columns (float64, one entry per data row) and each row's line."""

  columns: dict[str, np.ndarray]
  lines: np.ndarray  # the file line of each row, for error messages

  def error(self, field: str, path: str, row: int, message: str) -> ConfigError:
    return ConfigError(f'{field}={path!r}, line {int(self.lines[row])}: {message}')


def read(field: str, path: str, required: tuple[str, ...],
         optional: tuple[str, ...] = ()) -> Table:
  """The file at `path` (named by config field `field`): a header row naming
  every column of `required` (and any of `optional`, nothing else), then rows
  of finite numbers."""
  where = f'{field}={path!r}'
  try:
    with open(path, newline='', encoding='utf-8-sig') as f:  # a BOM is no column
      rows = list(csv.reader(f))
  except FileNotFoundError:
    raise ConfigError(f'{where}: no such file') from None
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise ConfigError(f'{where}: cannot be read as UTF-8 CSV ({e})') from None
  numbered = [(n, row) for n, row in enumerate(rows, 1) if any(c.strip() for c in row)]
  if not numbered:
    raise ConfigError(f'{where}: the file is empty (expected a header row: '
                      f'{",".join(required)})')
  _, header = numbered[0]
  names = [c.strip() for c in header]
  allowed = set(required) | set(optional)
  missing = [c for c in required if c not in names]
  extra = [c for c in names if c not in allowed]
  if missing or extra or len(set(names)) != len(names):
    raise ConfigError(f'{where}, line {numbered[0][0]}: the header must name the columns '
                      f'{",".join(required)}' + (f' (optional: {",".join(optional)})'
                                                  if optional else '') + f', got {header}')
  values, lines = [], []
  for n, row in numbered[1:]:
    if len(row) != len(names):
      raise ConfigError(f'{where}, line {n}: expected {len(names)} values '
                        f'({",".join(names)}), got {len(row)}')
    parsed = []
    for name, cell in zip(names, row):
      try:
        number = float(cell)
      except ValueError:
        number = math.nan
      if not math.isfinite(number):
        raise ConfigError(f'{where}, line {n}: {name} must be a finite number, got {cell!r}')
      parsed.append(number)
    values.append(parsed)
    lines.append(n)
  if not values:
    raise ConfigError(f'{where}: no rows after the header')
  array = np.asarray(values, np.float64)
  return Table({name: array[:, k] for k, name in enumerate(names)}, np.asarray(lines))


def client_ids(table: Table, field: str, path: str, num_clients: int) -> np.ndarray:
  """The `client` column as int64 ids, each an integer in [0, num_clients)."""
  ids = table.columns['client']
  bad = np.flatnonzero((ids != np.round(ids)) | (ids < 0) | (ids >= num_clients))
  if bad.size:
    raise table.error(field, path, bad[0], f'client must be an integer id in '
                      f'[0, {num_clients}), got {ids[bad[0]]:g}')
  return ids.astype(np.int64)
