"""Packed client data: every client's examples back to back, no padding.

`FederatedData` pads every client to the largest (`[num_clients,
max_examples, ...]`), which on heavy-tailed data is mostly padding (1,000
clients of mean 76 and max 1,436 examples: 19x the real data). The round
engine also accepts `PackedData`, whose arrays hold only the real examples;
a client's examples are rows `offsets[c] : offsets[c] + counts[c]`. The
round computes the same values from either layout. On a CPU a vmapped chunk
gathers about 15% slower from packed rows than from padded ones
(`benchmarks/RESULTS.md`), so `for_round` packs only where padding would
waste more than `PADDING_LIMIT` bytes.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import jax
import numpy as np

from fedjax_sim.data.federated_data import FederatedData

PADDING_LIMIT = 512 << 20


class PackedData(NamedTuple):
  """Real examples of every client, back to back (a pytree of arrays).

  Attributes:
    examples: feature name -> array `[total examples + 1, ...]` (one zero row
      at the end, so an empty data set still has a row to gather).
    offsets: int32 `[num_clients]`, each client's first row.
    counts: int32 `[num_clients]`, each client's number of examples.
  """

  examples: Mapping[str, jax.Array | np.ndarray]
  offsets: jax.Array | np.ndarray
  counts: jax.Array | np.ndarray

  @property
  def num_clients(self) -> int:
    return int(self.counts.shape[0])


def pack(data: FederatedData) -> PackedData:
  """`data` without its padding (host NumPy arrays)."""
  counts = np.asarray(data.counts, np.int32)
  real = np.arange(data.max_examples)[None, :] < counts[:, None]
  examples = {}
  for name, value in data.examples.items():
    value = np.asarray(value)
    rows = value[real]  # row-major: client by client, in order
    examples[name] = np.concatenate([rows, np.zeros((1,) + rows.shape[1:], rows.dtype)])
  offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
  return PackedData(examples, offsets, counts)


def packed_bytes(data: FederatedData) -> int:
  """Bytes `pack(data)` takes, without packing it."""
  total = int(np.sum(np.asarray(data.counts))) + 1
  per_example = sum(math.prod(np.shape(v)[2:]) * np.dtype(v.dtype).itemsize
                    for v in data.examples.values())
  return total * per_example + 8 * data.num_clients


def for_round(data: FederatedData) -> FederatedData | PackedData:
  """`data` as a round should read it: padded, or packed when its padding
  takes more than `PADDING_LIMIT` bytes."""
  padded = sum(np.asarray(v).nbytes for v in data.examples.values())
  return pack(data) if padded - packed_bytes(data) > PADDING_LIMIT else data
