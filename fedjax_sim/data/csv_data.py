"""Tabular data from a CSV file: a label column, numeric feature columns, and
clients given by a client-id column (e.g. `hospital`) or a partition rule.

`data.path = 'sklearn:breast_cancer'` is the embedded real default:
scikit-learn's bundled Wisconsin breast-cancer table (569 rows, 30 features,
label `diagnosis`: benign / malignant), read through the same checks as a file.
Every problem in the file is one `DataError` naming the file, row and column.
"""

from __future__ import annotations

import csv
import io
from typing import NamedTuple

import numpy as np

from fedjax_sim.data.federated_data import FederatedData, from_client_arrays
from fedjax_sim.data.partition import partition
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError, DataError

BREAST_CANCER = 'sklearn:breast_cancer'
MISSING = ('', 'na', 'nan', 'null', 'none', '?')


class Table(NamedTuple):
  """A CSV file's header and rows, as text."""

  name: str
  columns: list[str]
  rows: list[list[str]]


class Columns(NamedTuple):
  """What maps a table's raw rows to model inputs and outputs to labels."""

  feature_names: tuple[str, ...]
  class_names: tuple[str, ...]
  mean: np.ndarray  # [features], of the training rows
  std: np.ndarray  # [features], 1 where a feature is constant

  def standardize(self, x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)


class CsvData(NamedTuple):
  train: FederatedData
  test: dict[str, np.ndarray]
  num_classes: int
  columns: Columns
  client_names: tuple[str, ...]


def breast_cancer_table() -> Table:
  """scikit-learn's bundled breast-cancer data as a table; `diagnosis` is
  'malignant' or 'benign'."""
  from sklearn import datasets  # imported here: it takes most of a second
  bunch = datasets.load_breast_cancer()
  columns = [str(f) for f in bunch.feature_names] + ['diagnosis']
  rows = [[repr(float(v)) for v in x] + [str(bunch.target_names[t])]
          for x, t in zip(bunch.data, bunch.target)]
  return Table(BREAST_CANCER, columns, rows)


def read_table(path: str) -> Table:
  """The header and rows of the CSV file at `path` (or the bundled table)."""
  if path == BREAST_CANCER:
    return breast_cancer_table()
  try:
    with open(path, newline='') as f:
      return parse_table(f.read(), path)
  except (OSError, UnicodeDecodeError) as e:
    raise DataError(f'data.path {path!r} cannot be read as CSV: {e}') from None


def parse_table(text: str, path: str) -> Table:
  """The header and rows of CSV `text` (`path` names it in errors)."""
  try:
    lines = list(csv.reader(io.StringIO(text, newline='')))
  except csv.Error as e:
    raise DataError(f'data.path {path!r} cannot be read as CSV: {e}') from None
  lines = [line for line in lines if any(cell.strip() for cell in line)]
  if len(lines) < 2:
    raise DataError(f'{path}: expected a header row and data rows, got {len(lines)} rows')
  header = [c.strip() for c in lines[0]]
  _check_unique(header, path)
  for number, line in enumerate(lines[1:], start=2):
    if len(line) != len(header):
      raise DataError(f'{path}: row {number} has {len(line)} fields, the header has '
                      f'{len(header)}')
  return Table(path, header, [[c.strip() for c in line] for line in lines[1:]])


def _check_unique(header: list[str], path: str) -> None:
  """A DataError naming the first column name the header holds twice."""
  seen: dict[str, int] = {}
  for number, name in enumerate(header, start=1):
    if name in seen:
      raise DataError(f'{path}: the header names column {name!r} twice (columns '
                      f'{seen[name]} and {number}); column names must be unique')
    seen[name] = number


def rows_for_a_test_row(fraction: float) -> int:
  """The fewest rows of which `fraction` rounds to at least one test row."""
  rows = max(1, int(0.5 / fraction))
  while int(round(fraction * rows)) < 1:
    rows += 1
  return rows


def test_rows(fraction: float, rows: int, name: str) -> int:
  """How many of `rows` rows the test split takes: a DataError when that
  leaves the test set or the training set empty."""
  num_test = int(round(fraction * rows))
  if num_test < 1:
    raise DataError(f'{name}: data.test_fraction={fraction} of {rows} rows is no test row; '
                    f'need at least {rows_for_a_test_row(fraction)} rows, or a larger '
                    'data.test_fraction')
  if num_test >= rows:
    raise DataError(f'{name}: data.test_fraction={fraction} of {rows} rows leaves no '
                    'training row; use a smaller data.test_fraction')
  return num_test


def standard_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Each column's mean and std (1 where constant), computed in float64 so
  that values near float32's limit (1e38) do not overflow, stored float32."""
  wide = np.asarray(x, np.float64)
  mean, std = wide.mean(0), wide.std(0)
  return mean.astype(np.float32), np.where(std > 0, std, 1.).astype(np.float32)


def _column(table: Table, name: str, field: str) -> int:
  if name not in table.columns:
    raise ConfigError(f'{field}={name!r} is not a column of {table.name} '
                      f'(columns: {", ".join(table.columns[:12])}'
                      f'{", ..." if len(table.columns) > 12 else ""})')
  return table.columns.index(name)


def features_of(table: Table, names: tuple[str, ...], label: int) -> np.ndarray:
  """`[rows, features]` float32 of the named columns; a missing or non-numeric
  cell is one DataError naming its row (1-based, the header is row 1) and column."""
  out = np.zeros((len(table.rows), len(names)), np.float32)
  for j, name in enumerate(names):
    col = _column(table, name, 'data.features')
    if col == label:
      raise ConfigError(f'data.features holds the label column {name!r}')
    for i, row in enumerate(table.rows):
      cell = row[col]
      if cell.lower() in MISSING:
        raise DataError(f'{table.name}: row {i + 2}, column {name!r}: missing value')
      try:
        out[i, j] = float(cell)
      except ValueError:
        raise DataError(f'{table.name}: row {i + 2}, column {name!r}: {cell!r} is not a '
                        'number') from None
      if not np.isfinite(out[i, j]):
        raise DataError(f'{table.name}: row {i + 2}, column {name!r}: {cell!r} is not finite')
    _check_outlier(table, name, col, out[:, j])
  return out


OUTLIER = 1e6  # times a column's typical spread: a data error, not a measurement


def _check_outlier(table: Table, name: str, col: int, values: np.ndarray) -> None:
  """A DataError naming the cell farthest from its column's median when it is
  more than `OUTLIER` times the other cells' spread (their median absolute
  deviation, else their mean absolute deviation, else the median's size) away:
  one such cell (1e38 in a column of ones) would set the column's std and
  squash its other rows to one value after standardizing (issue 28, item 17).
  Large columns (millions) and heavy tails stay far below the limit."""
  if len(values) < 3:
    return
  wide = np.asarray(values, np.float64)
  dev = np.abs(wide - np.median(wide))
  worst = int(np.argmax(dev))
  others = np.delete(wide, worst)
  odev = np.abs(others - np.median(others))
  spread = np.median(odev) or odev.mean() or max(abs(float(np.median(others))), 1.)
  far = abs(wide[worst] - np.median(others)) / spread
  if far > OUTLIER:
    raise DataError(f'{table.name}: row {worst + 2}, column {name!r}: '
                    f'{table.rows[worst][col]!r} is {far:.1e} times the column\'s typical '
                    f'spread ({spread:.3g}) from its median ({np.median(others):.6g}); '
                    'expected a value on the scale of the column\'s other rows (a data error?)')


def load_csv(settings: DataSettings, seed: int) -> CsvData:
  """Reads, checks, splits and standardizes the table `settings` (the typed
  `data` section) name.

  A random `test_fraction` of the rows is the centralized test set. The rest
  goes to clients: one per value of `client_column` (sorted), or
  `num_clients` by `partition` ('iid' or 'dirichlet' with `alpha`). Every
  client needs at least `min_client_rows` training rows. Features are
  standardized with the training rows' mean and std; labels become class ids
  in sorted order of their values.
  """
  table = read_table(settings.path)
  label = _column(table, settings.label, 'data.label')
  client_column = settings.client_column
  client_col = _column(table, client_column, 'data.client_column') if client_column else None
  names = tuple(settings.features or (
      c for k, c in enumerate(table.columns) if k not in (label, client_col)))
  x = features_of(table, names, label)
  labels = np.array([row[label] for row in table.rows])
  if any(v.lower() in MISSING for v in labels):
    row = next(i for i, v in enumerate(labels) if v.lower() in MISSING)
    raise DataError(f'{table.name}: row {row + 2}, column {table.columns[label]!r}: '
                    'missing label')
  class_names, y = np.unique(labels, return_inverse=True)
  if len(class_names) < 2:
    raise DataError(f'{table.name}: label column {table.columns[label]!r} has one value '
                    f'({str(class_names[0])!r}); need at least 2 classes')
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(y))
  num_test = test_rows(settings.test_fraction, len(y), table.name)
  test_idx, train_idx = order[:num_test], order[num_test:]
  minimum = settings.min_client_rows
  if client_col is None:
    num_clients = settings.num_clients
    if minimum and num_clients * minimum > len(train_idx):  # before partitioning them
      raise DataError(f'{table.name}: data.num_clients={num_clients} clients of at least '
                      f'data.min_client_rows={minimum} rows need {num_clients * minimum} '
                      f'training rows; there are {len(train_idx)}')
    parts = partition(y[train_idx], num_clients, settings.partition,
                      settings.alpha, rng)
    client_names = tuple(f'client_{k}' for k in range(len(parts)))
  else:
    every_id = np.array([row[client_col] for row in table.rows])
    # Named from every row: a client whose rows all fell in the test split
    # has 0 training rows (the check below), it does not vanish.
    client_names = tuple(str(c) for c in np.unique(every_id))
    ids = every_id[train_idx]
    parts = [np.flatnonzero(ids == c) for c in client_names]
  for client, part in zip(client_names, parts):
    if len(part) < minimum:
      raise DataError(f'{table.name}: client {client!r} has {len(part)} training rows; '
                      f'each needs at least data.min_client_rows={minimum}')
  columns = Columns(names, tuple(str(c) for c in class_names),
                    *standard_scale(x[train_idx]))
  x = columns.standardize(x)
  y = y.astype(np.int32)
  clients = [{'x': x[train_idx[p]], 'y': y[train_idx[p]]} for p in parts]
  return CsvData(from_client_arrays(clients, table.name), {'x': x[test_idx], 'y': y[test_idx]},
                 len(class_names), columns, client_names)
