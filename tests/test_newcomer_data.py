"""CSV tables a newcomer might bring (issue 28, item 1): a huge cell, a
duplicated header, too few rows for a test split, a client whose rows all
land in the test split."""

import os
import subprocess
import sys

import numpy as np
import pytest

from fedjax_sim.data.csv_data import load_csv
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_table(path, header: str, rows: list[str]) -> str:
  path.write_text('\n'.join([header, *rows]) + '\n')
  return str(path)


def hospital_rows(n: int = 40) -> list[str]:
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=n), rng.normal(5., 2., size=n)
  return [f'h{i % 4},{float(a[i])!r},{float(b[i])!r},{"yes" if a[i] > 0 else "no"}' for i in range(n)]


def settings(path: str, **changes) -> DataSettings:
  return DataSettings(name='csv', path=path, label='outcome', **changes)


def test_a_huge_cell_is_one_error_naming_it(tmp_path):
  """One cell of 1e38 would set its column's std and squash the other rows to
  one value (issue 28, item 17): it is refused, naming row, column and value."""
  rows = hospital_rows()
  rows[3] = 'h3,1e38,' + rows[3].split(',', 2)[2]
  path = write_table(tmp_path / 'big.csv', 'hospital,a,b,outcome', rows)
  with pytest.raises(DataError, match=r"big\.csv: row 5, column 'a': '1e38' is 1\.\de\+38 "
                     r"times the column's typical spread .* expected a value on the scale of "
                     r"the column's other rows"):
    load_csv(settings(path, client_column='hospital'), seed=0)


def test_large_but_sane_columns_keep_their_rows_apart(tmp_path):
  """A column in the millions, and a heavy-tailed one (one row 1000 times the
  spread), load and standardize with their rows distinct."""
  rows = hospital_rows()
  rng = np.random.default_rng(1)
  rows = [f'{r.split(",")[0]},{3e6 + 1e5 * float(rng.normal())!r},{r.split(",", 2)[2]}'
          for r in rows]
  rows[0] = rows[0].split(',')[0] + ',5e8,' + rows[0].split(',', 2)[2]
  path = write_table(tmp_path / 'large.csv', 'hospital,a,b,outcome', rows)
  data = load_csv(settings(path, client_column='hospital'), seed=0)
  x, counts = np.asarray(data.train.examples['x']), np.asarray(data.train.counts)
  column = np.concatenate([x[k, :n, 0] for k, n in enumerate(counts)] + [data.test['x'][:, 0]])
  assert np.all(np.isfinite(column)) and len(np.unique(column)) == len(rows)


def test_a_duplicated_header_name_is_an_error(tmp_path):
  rows = hospital_rows()
  path = write_table(tmp_path / 'dup.csv', 'hospital,a,a,outcome', rows)
  with pytest.raises(DataError, match=r"dup\.csv: the header names column 'a' twice "
                     r'\(columns 2 and 3\)'):
    load_csv(settings(path, client_column='hospital'), seed=0)


def test_too_few_rows_for_a_test_split_is_one_line(tmp_path):
  rows = [f'{0.1 * i},{i % 2},{"yes" if i % 2 else "no"}' for i in range(6)]
  path = write_table(tmp_path / 'six.csv', 'a,b,outcome', rows)
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
       f'--config={ROOT}/configs/hospitals.py', f'--config.data.path={path}',
       '--config.data.label=outcome', '--config.data.test_fraction=0.05',
       '--config.rounds=1', '--config.data.num_clients=2', '--config.clients_per_round=2',
       '--config.data.min_client_rows=1'], capture_output=True, text=True, cwd='/', timeout=300)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip() == (
      f'error: {path}: data.test_fraction=0.05 of 6 rows is no test row; need at least '
      '11 rows, or a larger data.test_fraction'), result.stderr


def test_a_client_with_every_row_in_the_test_split_is_reported(tmp_path):
  # One row of client 'solo' (the last), with a seed that puts it in the
  # test split (load_csv's: the first 20% of a seeded permutation).
  seed = next(s for s in range(100) if 40 in np.random.default_rng(s).permutation(41)[:8])
  path = write_table(tmp_path / 'lost.csv', 'hospital,a,b,outcome',
                     hospital_rows() + ['solo,0.1,0.2,yes'])
  with pytest.raises(DataError, match=r"client 'solo' has 0 training rows; "
                     r'each needs at least data.min_client_rows=1'):
    load_csv(settings(path, client_column='hospital', min_client_rows=1), seed=seed)
