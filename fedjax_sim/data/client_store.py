"""A federated data set on disk, memory-mapped: only gathered clients are read.

Layout of a store directory (written once, atomically: built in a temporary
sibling directory, then renamed; processes converting the same data at once
each build their own, the first rename wins and the others open its store):

- `<feature>.npy`: every client's examples concatenated, `[total_rows, ...]`
  (not padded on disk: padding StackOverflow to its largest client would
  multiply its size);
- `counts.npy` (int32 `[num_clients]`) and `offsets.npy` (int64
  `[num_clients + 1]`, client i's rows are `offsets[i]:offsets[i + 1]`);
- `meta.json`: client ids, feature names and what the converter recorded.

`ClientStore.gather(ids)` returns a `FederatedData` holding just those clients,
padded to the store's global `max_examples` (so a round program compiled once
fits every round's gather).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from typing import Any, Iterable, Mapping

import numpy as np

from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import DataError

META = 'meta.json'


class ClientStore:
  """A read-only, memory-mapped federated data set (see module docstring)."""

  def __init__(self, directory: str):
    self.directory = directory
    with open(os.path.join(directory, META)) as f:
      self.meta: dict[str, Any] = json.load(f)
    load = lambda name: np.load(os.path.join(directory, f'{name}.npy'), mmap_mode='r')
    self.client_ids: list[str] = self.meta['client_ids']
    self.counts = np.asarray(load('counts'))
    self.offsets = np.asarray(load('offsets'))
    self.features = {name: load(name) for name in self.meta['features']}

  @property
  def num_clients(self) -> int:
    return len(self.client_ids)

  @property
  def max_examples(self) -> int:
    return max(int(self.counts.max(initial=0)), 1)

  def gather(self, ids: Iterable[int]) -> FederatedData:
    """Clients `ids` (in that order), padded to `max_examples` rows each."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    counts = self.counts[ids]
    examples = {}
    for name, rows in self.features.items():
      out = np.zeros((len(ids), self.max_examples) + rows.shape[1:], rows.dtype)
      for i, (client, count) in enumerate(zip(ids, counts)):
        start = self.offsets[client]
        out[i, :count] = rows[start:start + count]
      examples[name] = out
    return FederatedData(examples, counts.astype(np.int32))


def _write_npy(path: str, raw_path: str, dtype: np.dtype, shape: tuple) -> None:
  """Prefixes the raw bytes in `raw_path` with an `.npy` header."""
  with open(path, 'wb') as out, open(raw_path, 'rb') as raw:
    np.lib.format.write_array_header_1_0(
        out, {'descr': np.lib.format.dtype_to_descr(dtype),
              'fortran_order': False, 'shape': shape})
    shutil.copyfileobj(raw, out, 1 << 24)
  os.remove(raw_path)


def _publish(tmp: str, directory: str) -> None:
  """Renames the built store `tmp` to `directory`; where another builder's
  complete store got there first, it is kept and `tmp` removed."""
  try:
    os.replace(tmp, directory)
  except OSError as e:
    if (e.errno not in (errno.ENOTEMPTY, errno.EEXIST)
        or not os.path.isfile(os.path.join(directory, META))):
      raise
    shutil.rmtree(tmp, ignore_errors=True)


def build_store(directory: str,
                clients: Iterable[tuple[str, Mapping[str, np.ndarray]]],
                meta: Mapping[str, Any] | None = None) -> ClientStore:
  """Writes `clients` (`(id, {feature: [rows, ...]})`, streamed one at a time)
  to a store at `directory` and opens it. Every client must have the same
  features, dtypes and per-row shapes (checked). `directory` names its
  content (callers key it by source and options): a store that another
  process renames there first is the same, and is the one opened."""
  parent = os.path.dirname(os.path.abspath(directory)) or '.'
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix='.building-', dir=parent)
  try:
    ids, counts, spec, files = [], [], None, {}
    for client_id, features in clients:
      this = {k: (np.asarray(v).dtype, np.asarray(v).shape[1:])
              for k, v in sorted(features.items())}
      if spec is None:
        spec = this
        files = {k: open(os.path.join(tmp, f'{k}.raw'), 'wb') for k in spec}
      elif this != spec:
        raise DataError(f'client {client_id!r}: features {this} differ from '
                        f'the first client\'s {spec}')
      lengths = {len(v) for v in features.values()}
      if len(lengths) != 1:
        raise DataError(f'client {client_id!r}: features have different '
                        f'numbers of rows {sorted(lengths)}')
      for k, v in features.items():
        files[k].write(np.ascontiguousarray(v).tobytes())
      ids.append(client_id)
      counts.append(lengths.pop())
    if spec is None:
      raise DataError(f'{directory}: no clients to store')
    for f in files.values():
      f.close()
    total = int(sum(counts))
    for k, (dtype, row_shape) in spec.items():
      _write_npy(os.path.join(tmp, f'{k}.npy'), os.path.join(tmp, f'{k}.raw'),
                 dtype, (total,) + tuple(row_shape))
    np.save(os.path.join(tmp, 'counts.npy'), np.asarray(counts, np.int32))
    np.save(os.path.join(tmp, 'offsets.npy'),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    with open(os.path.join(tmp, META), 'w') as f:
      json.dump({**(meta or {}), 'client_ids': ids, 'features': sorted(spec)}, f)
    _publish(tmp, directory)
  except BaseException:
    for f in files.values():
      f.close()
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return ClientStore(directory)


def eval_subset(store: ClientStore, num: int,
                seed: int) -> tuple[np.ndarray, FederatedData]:
  """A fixed, seeded subset of `min(num, clients)` clients: their sorted ids
  and data, for client-level evaluation without loading every client."""
  num = min(num, store.num_clients)
  ids = np.sort(np.random.default_rng(seed).choice(store.num_clients, num,
                                                   replace=False))
  return ids, store.gather(ids)
