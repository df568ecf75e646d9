"""CSV files uploaded from the page, stored as `<runs>/_data/<name>.csv`.

An upload is capped in size while it streams in, must be UTF-8 text, and is
parsed with the `csv` module by the same reader as `data.name='csv'`
(`fedjax_sim.data.csv_data`); nothing in it is evaluated. A stored file is
never replaced. Which columns are the label, features and client id is
chosen when a run starts, and checked then by loading the data.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from typing import Any, AsyncIterator

from fedjax_sim.control.safety import Refused, check_name
from fedjax_sim.data import csv_data
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError, DataError

DATA_DIR = '_data'  # not a run name: those start with a letter or digit


def data_dir(runs_dir: str) -> str:
  """`<runs>/_data`, created if missing; refused if it is not a directory of
  the runs directory (a symbolic link elsewhere)."""
  path = os.path.join(runs_dir, DATA_DIR)
  os.makedirs(path, exist_ok=True)
  if os.path.islink(path) or not os.path.isdir(path):
    raise Refused(f'{path} must be a directory, not a link', 409)
  return path


def _file(runs_dir: str, name: str) -> str:
  """The path of data set `name`; refused unless a plain name, or if the
  file there is a symbolic link."""
  path = os.path.join(data_dir(runs_dir), check_name('dataset', name) + '.csv')
  if os.path.islink(path):
    raise Refused(f'dataset={name!r} is a symbolic link; expected an uploaded file', 409)
  return path


def dataset_path(runs_dir: str, name: str) -> str:
  """The stored file of data set `name`; refused if there is none."""
  path = _file(runs_dir, name)
  if not os.path.isfile(path):
    raise Refused(f'dataset={name!r}: no such uploaded data set', 404)
  return path


def describe(path: str, name: str, check: bool = False) -> dict[str, Any]:
  """A stored table's name, columns, number of rows and first rows; with
  `check`, an upload's table is first checked (`check_table`)."""
  table = csv_data.read_table(path)
  if check:
    check_table(table.columns, table.rows, name)
  return {'name': name, 'columns': table.columns, 'rows': len(table.rows),
          'preview': table.rows[:5]}


def _is_number(cell: str) -> bool:
  try:
    return math.isfinite(float(cell))
  except ValueError:
    return False


def check_table(columns: list[str], rows: list[list[str]], name: str) -> None:
  """Refuses an upload that no run could use as it is: a header of one
  column holding ';' or a tab (another separator), or a bad cell (missing,
  or not a finite number) in a column whose other cells are numbers."""
  if len(columns) == 1 and (';' in columns[0] or '\t' in columns[0]):
    separator = "';'" if ';' in columns[0] else 'a tab'
    raise Refused(f'{name}: the header is one column, {columns[0][:60]!r}: the file looks '
                  f'separated by {separator}; save it with commas (the reader splits on "," only)')
  for j, column in enumerate(columns):
    numbers = [_is_number(row[j]) for row in rows]
    if any(numbers) and not all(numbers):
      i = numbers.index(False)
      cell = rows[i][j]
      what = 'missing value' if cell.strip().lower() in csv_data.MISSING else (
          f'{cell!r} is not a number')
      raise Refused(f'{name}: row {i + 2}, column {column!r}: {what}, but the column\'s '
                    'other values are numbers; fix the cell and upload again')


def datasets(runs_dir: str) -> list[dict[str, Any]]:
  out = []
  for file in sorted(os.listdir(data_dir(runs_dir))):
    path = os.path.join(data_dir(runs_dir), file)
    if file.endswith('.csv') and not file.startswith('.') and not os.path.islink(path):
      out.append(describe(path, file[:-4]))
  return out


async def read_text(chunks: AsyncIterator[bytes], max_bytes: int) -> str:
  """The streamed upload as text, refused past `max_bytes` (while it streams
  in), when it is not UTF-8, or when it holds NUL bytes."""
  body, size = [], 0
  async for chunk in chunks:
    size += len(chunk)
    if size > max_bytes:
      raise Refused(f'the upload is larger than the limit of {max_bytes} bytes', 413)
    body.append(chunk)
  try:
    text = b''.join(body).decode('utf-8-sig')
  except UnicodeDecodeError as e:
    raise Refused(f'the file is not UTF-8 text (byte {e.start})') from None
  if '\x00' in text:
    raise Refused('the file holds NUL bytes; expected a CSV text file')
  return text


async def store(runs_dir: str, name: str, chunks: AsyncIterator[bytes],
                max_bytes: int) -> dict[str, Any]:
  """Stores the streamed file as data set `name` after checking it: at most
  `max_bytes`, UTF-8, a CSV table with a header and rows of equal length.
  An existing data set is never replaced, even by a concurrent upload."""
  path = _file(runs_dir, name)
  exists = Refused(f'dataset={name!r} exists already; choose another name', 409)
  if os.path.exists(path):
    raise exists
  text = await read_text(chunks, max_bytes)
  fd, incoming = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.', suffix='.incoming')
  try:
    with os.fdopen(fd, 'w', encoding='utf-8', newline='') as f:
      f.write(text)
    try:
      described = await asyncio.to_thread(describe, incoming, name, True)
    except DataError as e:
      raise Refused(str(e).replace(incoming, name)) from None
    try:
      os.link(incoming, path)  # fails if the name was taken meanwhile
    except FileExistsError:
      raise exists from None
  finally:
    os.unlink(incoming)
  return described


def check_choice(data: DataSettings, seed: int, clients_per_round: int) -> None:
  """Loads the data as a run would with these `data` settings (label,
  features, client column or partition), so a wrong column, a non-numeric or
  missing value, a client with too few rows (or too many clients for the
  rows), or fewer clients than `clients_per_round` is refused before the run."""
  name = os.path.basename(data.path)
  if data.client_column and data.client_column == data.label:
    raise Refused(f'data.client_column={data.client_column!r} is the label column too; '
                  'choose another column for the client ids, or a partition')
  try:
    loaded = csv_data.load_csv(data, seed)
  except (ConfigError, DataError) as e:
    raise Refused(str(e).replace(data.path, name)) from None
  clients = loaded.train.num_clients
  if clients_per_round > clients:
    source = (f"client column {data.client_column!r}" if data.client_column
              else f"data.num_clients={clients}")
    raise Refused(f'clients_per_round={clients_per_round} exceeds the {clients} clients '
                  f'of {name} ({source})')
