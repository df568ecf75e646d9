"""Split every client's examples into a local train part and a local test part.

Personalization is evaluated on data each client holds out from federated
training. The split works on the padded arrays at once (no loop over
clients): a client with `n` examples keeps `n_test = min(ceil(fraction * n),
n - 1)` of them for testing (so any client with 2+ examples has both parts),
chosen uniformly at random by `seed`; both parts keep the examples' order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fedjax_sim.data.federated_data import FederatedData


class ClientSplit(NamedTuple):
  """The local train and local test parts, client `i` in row `i` of both."""

  train: FederatedData
  test: FederatedData


def local_test_counts(counts: np.ndarray, fraction: float) -> np.ndarray:
  """Number of local test examples of clients with `counts` examples."""
  counts = np.asarray(counts, np.int64)
  wanted = np.ceil(fraction * counts - 1e-9).astype(np.int64)
  return np.clip(np.minimum(wanted, counts - 1), 0, None).astype(np.int32)


def _select(data: FederatedData, chosen: np.ndarray) -> FederatedData:
  """The examples where `chosen [clients, max_examples]` is True, moved to the
  front of each row (original order kept), padding zeroed and trimmed."""
  counts = chosen.sum(1).astype(np.int32)
  width = max(int(counts.max(initial=0)), 1)
  order = np.argsort(~chosen, axis=1, kind='stable')[:, :width]
  valid = np.arange(width)[None, :] < counts[:, None]
  examples = {}
  for name, value in data.examples.items():
    value = np.asarray(value)
    index = order.reshape(order.shape + (1,) * (value.ndim - 2))
    picked = np.take_along_axis(value, index, axis=1)
    keep = valid.reshape(valid.shape + (1,) * (value.ndim - 2))
    examples[name] = np.where(keep, picked, np.zeros((), value.dtype))
  return FederatedData(examples, counts)


def split_clients(data: FederatedData, test_fraction: float,
                  seed: int) -> ClientSplit:
  """Splits each client's examples into local train/test parts (see module)."""
  counts = np.asarray(data.counts)
  real = np.arange(data.max_examples)[None, :] < counts[:, None]
  noise = np.random.default_rng(seed).random(real.shape)
  rank = np.argsort(np.argsort(np.where(real, noise, np.inf), axis=1), axis=1)
  is_test = real & (rank < local_test_counts(counts, test_fraction)[:, None])
  return ClientSplit(_select(data, real & ~is_test), _select(data, is_test))
