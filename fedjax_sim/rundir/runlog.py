"""Reading and writing a run directory: config.json and JSON-lines logs.

A run directory holds `config.json` (the resolved config), `metrics.jsonl`
(one object per evaluation), `client_norms.jsonl` (one object per round: the
sampled clients' ids, update norms and local training losses) and
`clients.json` (the latest evaluation of every client on its own data).
Writers append whole lines and fsync; readers ignore a partially written last
line, so a reader polling a live run never sees half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from fedjax_sim.errors import DataError

CONFIG = 'config.json'
METRICS = 'metrics.jsonl'
CLIENT_NORMS = 'client_norms.jsonl'
CLIENTS = 'clients.json'
_UMASK = os.umask(0)
os.umask(_UMASK)


def _builtin(value: Any) -> Any:
  """JSON fallback for NumPy / JAX scalars and arrays."""
  if hasattr(value, 'tolist'):
    return value.tolist()
  raise TypeError(f'{type(value).__name__} is not JSON serializable')


def nulls(values: Any) -> list[float | None]:
  """`values` as a list of floats, with NaN and inf as None (JSON null)."""
  values = np.asarray(values, np.float64).reshape(-1)
  return [float(v) if np.isfinite(v) else None for v in values]


def append_jsonl(path: str, obj: dict[str, Any]) -> None:
  """Appends `obj` as one JSON line to `path`, then flushes and fsyncs."""
  line = json.dumps(obj, default=_builtin) + '\n'
  with open(path, 'a+b') as f:
    if f.tell() > 0:  # Terminate a line left partial by a crashed writer.
      f.seek(-1, os.SEEK_END)
      if f.read(1) != b'\n':
        line = '\n' + line
    f.write(line.encode())
    f.flush()
    os.fsync(f.fileno())


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """The complete records of a JSON-lines file ([] if it does not exist).

  A last line without its newline is being written (or was cut by a crash) and
  is ignored, as is any line that is not valid JSON.
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except FileNotFoundError:
    return []
  records = []
  for line in data.split(b'\n')[:-1]:
    try:
      records.append(json.loads(line))
    except ValueError:
      continue
  return records


# The fields a resumed run reads from each log's rows, and their types.
ROW_FIELDS: dict[str, dict[str, type]] = {METRICS: {'round': int},
                                          CLIENT_NORMS: {'round': int, 'norms': list}}
_KINDS = {int: 'an integer', float: 'a number', str: 'a string', bool: 'true or false',
          list: 'a list', dict: 'an object'}


def kind(value: Any) -> str:
  """What a JSON value is, in words ('a string', 'an integer', ...)."""
  return 'null' if value is None else _KINDS.get(type(value), type(value).__name__)


def _row_problem(row: Any, fields: dict[str, type]) -> str | None:
  """What is wrong with a log row, or None."""
  if not isinstance(row, dict):
    return f'is {kind(row)}, expected an object'
  for field, wanted in fields.items():
    if field not in row:
      return f'has no {field!r} (expected {_KINDS[wanted]})'
    value = row[field]
    if not isinstance(value, wanted) or isinstance(value, bool):
      return f'has {field}={value!r} ({kind(value)}), expected {_KINDS[wanted]}'
  return None


def read_rows(path: str, fields: dict[str, type]) -> list[dict[str, Any]]:
  """The complete rows of a run's JSON-lines log ([] if it does not exist),
  each an object holding `fields` of their types; a DataError names the file,
  the line and what is wrong (a row edited by hand). As `read_jsonl`, a last
  line without its newline (cut by a crash) is ignored."""
  try:
    with open(path, 'rb') as f:
      lines = f.read().split(b'\n')[:-1]
  except FileNotFoundError:
    return []
  rows = []
  for number, line in enumerate(lines, 1):
    try:
      row = json.loads(line)
    except ValueError:
      raise DataError(f'{path}, line {number}: not valid JSON; fix or remove the line') from None
    problem = _row_problem(row, fields)
    if problem:
      raise DataError(f'{path}, line {number}: the row {problem}; fix or remove the row')
    rows.append(row)
  return rows


def last_record(path: str, tail: int = 1 << 20) -> dict[str, Any] | None:
  """The last complete record of a JSON-lines file (None if there is none),
  reading at most its last `tail` bytes."""
  try:
    with open(path, 'rb') as f:
      f.seek(max(0, os.fstat(f.fileno()).st_size - tail))
      data = f.read()
  except FileNotFoundError:
    return None
  for line in reversed(data.split(b'\n')[:-1]):
    try:
      return json.loads(line)
    except ValueError:
      continue
  return None


def write_atomic(path: str, data: bytes | str) -> None:
  """Writes `data` to `path` via a temp file in the same dir and os.replace,
  then syncs the directory so the rename itself survives a machine crash."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.',
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # mkstemp makes it private.
      f.write(data.encode() if isinstance(data, str) else data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None:  # a failed write() names no file
      raise OSError(e.errno, e.strerror, path) from e
    raise
  dir_fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(dir_fd)
  finally:
    os.close(dir_fd)


def write_json_atomic(path: str, obj: Any) -> None:
  """Writes `obj` as indented JSON to `path` atomically."""
  write_atomic(path, json.dumps(obj, indent=2, default=_builtin) + '\n')


def read_json(path: str) -> Any:
  """The JSON object stored at `path`, or None if there is none.

  Raises DataError naming the file when it is not valid JSON (cut short or
  edited by hand: this library writes it atomically).
  """
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DataError(f'{path} is not valid JSON ({e}); fix or remove it') from None


def find_runs(root: str) -> list[str]:
  """Run directories under `root`: itself and its subdirectories holding metrics.

  Returns sorted paths; `root` itself comes first when it is a run.
  """
  runs = [root] if os.path.isfile(os.path.join(root, METRICS)) else []
  with os.scandir(root) as entries:
    subdirs = sorted(e.path for e in entries if e.is_dir())
  return runs + [d for d in subdirs if os.path.isfile(os.path.join(d, METRICS))]


def flatten(config: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  """The leaves of a nested JSON config by dotted name; lists become strings
  (`[200]`), so every value is a str, number, bool or None."""
  flat: dict[str, Any] = {}
  for key, value in config.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = json.dumps(value) if isinstance(value, list) else value
  return flat
