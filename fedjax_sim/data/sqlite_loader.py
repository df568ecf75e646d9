"""Reading federated data sets from the SQLite files FedJAX and TFF distribute.

Two layouts exist (both detected from the tables present):

- FedJAX (`federated_emnist_train.sqlite`, `shakespeare_train.sqlite`,
  `stackoverflow_train.sqlite`, ...): one file per split, table
  `federated_data(client_id BLOB, data BLOB, num_examples INTEGER)`, one row per
  client; `data` is a zlib-compressed msgpack map of feature name -> array
  (arrays as msgpack extension 1 `(shape, dtype name, raw bytes)`, bytes arrays
  as extension 4 `(shape, flat list of bytes)`).
- TFF (`cifar100.sqlite`, `emnist.sqlite`, ...): one file for all splits,
  tables `examples(split_name, client_id, serialized_example_proto)` (one
  `tf.train.Example` per row) and `client_metadata(client_id, split_name,
  num_examples)`.

`read_clients(path, split)` yields `(client id, {feature: array})` one client
at a time, in the file's order, so a data set never has to fit in memory.
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from typing import Iterator

import msgpack
import numpy as np

from fedjax_sim.data.tf_example import parse_example
from fedjax_sim.errors import DataError

FEDJAX_SCHEMA = {'federated_data': ('client_id', 'data', 'num_examples')}
TFF_SCHEMA = {'examples': ('split_name', 'client_id', 'serialized_example_proto'),
              'client_metadata': ('client_id', 'split_name', 'num_examples')}
_NDARRAY, _SCALAR, _BYTES_NDARRAY = 1, 3, 4


def connect(path: str) -> sqlite3.Connection:
  """Opens `path` read-only; `DataError` if it is missing or not SQLite."""
  if not os.path.isfile(path):
    raise DataError(f'{path}: file not found')
  try:
    connection = sqlite3.connect(f'file:{os.path.abspath(path)}?mode=ro', uri=True)
    connection.execute('SELECT name FROM sqlite_master LIMIT 1').fetchall()
  except sqlite3.DatabaseError as e:
    raise DataError(f'{path}: not a readable SQLite database ({e})') from None
  return connection


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
  return {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}


def detect_layout(connection: sqlite3.Connection, path: str) -> str:
  """'fedjax' or 'tff'; `DataError` naming the missing table or column."""
  tables = {row[0] for row in connection.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table'")}
  layout, schema = (('fedjax', FEDJAX_SCHEMA) if 'federated_data' in tables
                    else ('tff', TFF_SCHEMA))
  for table, columns in schema.items():
    if table not in tables:
      raise DataError(
          f'{path}: expected a FedJAX table federated_data(client_id, data, '
          f'num_examples) or TFF tables examples/client_metadata; missing '
          f'table {table!r} (found {sorted(tables)})')
    missing = [c for c in columns if c not in _columns(connection, table)]
    if missing:
      raise DataError(f'{path}: table {table!r} lacks column(s) {missing}')
  return layout


def _ext_hook(code: int, payload: bytes):
  if code in (_NDARRAY, _SCALAR):
    shape, dtype, raw = msgpack.unpackb(payload, raw=True)
    array = np.frombuffer(raw, np.dtype(dtype.decode())).reshape(shape)
    return array[()] if code == _SCALAR else array
  if code == _BYTES_NDARRAY:
    shape, flat = msgpack.unpackb(payload, raw=True)
    out = np.empty(len(flat), object)
    out[:] = flat
    return out.reshape(shape)
  raise ValueError(f'unknown msgpack extension type {code}')


def decode_fedjax_blob(blob: bytes) -> dict[str, np.ndarray]:
  """A FedJAX client blob -> feature name -> array."""
  return msgpack.unpackb(zlib.decompress(blob), ext_hook=_ext_hook, raw=False)


def _stack(parsed: list[dict]) -> dict[str, np.ndarray]:
  """Per-example TFF features -> one array per feature (bytes: object arrays
  of the single value; numbers: `[examples, values]` arrays)."""
  out = {}
  for name, first in parsed[0].items():
    if isinstance(first, list):
      column = np.empty(len(parsed), object)
      column[:] = [p[name][0] if p[name] else b'' for p in parsed]
    else:
      column = np.stack([p[name] for p in parsed])
    out[name] = column
  return out


def client_id_text(client_id: bytes | str) -> str:
  return (client_id.decode('utf-8', 'backslashreplace')
          if isinstance(client_id, bytes) else str(client_id))


def read_clients(path: str, split: str) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
  """Yields `(client id, raw features)` of each client of `split` (the TFF
  layout's `split_name`; a FedJAX file is one split already).

  Raises:
    DataError: missing file, wrong schema, or a client whose blob cannot be
      decoded (naming the file and the client).
  """
  connection = connect(path)
  try:
    layout = detect_layout(connection, path)
    if layout == 'fedjax':
      rows = connection.execute(
          'SELECT client_id, data FROM federated_data ORDER BY rowid')
      for client_id, blob in rows:
        client = client_id_text(client_id)
        try:
          yield client, decode_fedjax_blob(blob)
        except (zlib.error, ValueError, TypeError, msgpack.UnpackException) as e:
          raise DataError(f'{path}: client {client!r}: undecodable data ({e})') from None
      return
    clients = [row[0] for row in connection.execute(
        'SELECT client_id FROM client_metadata WHERE split_name = ? ORDER BY rowid',
        (split,))]
    if not clients:
      splits = sorted(r[0] for r in connection.execute(
          'SELECT DISTINCT split_name FROM client_metadata'))
      raise DataError(f'{path}: no clients in split {split!r} (splits: {splits})')
    for client_id in clients:
      client = client_id_text(client_id)
      blobs = connection.execute(
          'SELECT serialized_example_proto FROM examples WHERE split_name = ? '
          'AND client_id = ? ORDER BY rowid', (split, client_id)).fetchall()
      if not blobs:
        yield client, {}
        continue
      try:
        yield client, _stack([parse_example(b[0]) for b in blobs])
      except (ValueError, KeyError) as e:
        raise DataError(f'{path}: client {client!r}: bad tf.train.Example ({e})') from None
  finally:
    connection.close()
