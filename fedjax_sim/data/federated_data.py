"""Federated data as padded dense arrays: every client's examples in one array.

A `FederatedData` holds `examples[name]` of shape `[num_clients, max_examples, ...]`
and `counts[num_clients]`; rows past a client's count are padding. Ragged clients
(1 example or 1,000) therefore need no Python loop: the round engine gathers batches
from these arrays inside one XLA program.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import jax
import numpy as np

from fedjax_sim.errors import DataError


class FederatedData(NamedTuple):
  """Padded per-client examples (a pytree of arrays).

  Attributes:
    examples: feature name -> array `[num_clients, max_examples, ...]`. Supervised
      tasks use `x` (inputs) and `y` (integer labels).
    counts: int32 `[num_clients]`, number of real examples of each client.
  """

  examples: Mapping[str, jax.Array | np.ndarray]
  counts: jax.Array | np.ndarray

  @property
  def num_clients(self) -> int:
    return int(self.counts.shape[0])

  @property
  def max_examples(self) -> int:
    return int(next(iter(self.examples.values())).shape[1])


def from_client_arrays(clients: Sequence[Mapping[str, np.ndarray]],
                       name: str = 'data') -> FederatedData:
  """Pads a list of per-client example dicts into one `FederatedData`.

  Args:
    clients: one dict per client, each value with a leading example axis.
    name: what to call this data set in error messages.
  """
  if not clients:
    raise DataError(f'{name}: expected at least one client, got none')
  keys = sorted(clients[0])
  counts = np.array([len(c[keys[0]]) for c in clients], np.int32)
  max_examples = max(int(counts.max()), 1)
  examples = {}
  for key in keys:
    first = np.asarray(clients[0][key])
    out = np.zeros((len(clients), max_examples) + first.shape[1:], first.dtype)
    for i, client in enumerate(clients):
      value = np.asarray(client[key])
      if len(value) != counts[i]:
        raise DataError(f'{name}: client {i} has {len(value)} rows of {key!r} '
                        f'but {counts[i]} rows of {keys[0]!r}')
      out[i, :counts[i]] = value
    examples[key] = out
  data = FederatedData(examples, counts)
  validate(data, name)
  return data


def validate(data: FederatedData, name: str = 'data',
             num_classes: int | None = None) -> None:
  """Checks shapes, counts, finiteness and label range; raises `DataError`."""
  counts = np.asarray(data.counts)
  for key, value in data.examples.items():
    value = np.asarray(value)
    if value.shape[:1] != counts.shape:
      raise DataError(f'{name}: examples[{key!r}] has {value.shape[0]} clients, '
                      f'counts has {counts.shape[0]}')
    if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
      client = int(np.argwhere(~np.isfinite(value))[0][0])
      raise DataError(f'{name}: examples[{key!r}] of client {client} contains '
                      'NaN or Inf; expected finite values')
  if (counts < 0).any() or (counts > data.max_examples).any():
    raise DataError(f'{name}: counts must lie in [0, {data.max_examples}]')
  if num_classes is not None and 'y' in data.examples:
    y = np.asarray(data.examples['y'])
    valid = np.arange(data.max_examples)[None, :] < counts[:, None]
    bad = valid & ((y < 0) | (y >= num_classes))
    if bad.any():
      client = int(np.argwhere(bad)[0][0])
      raise DataError(f'{name}: client {client} has labels outside '
                      f'[0, {num_classes})')


def pooled(data: FederatedData) -> FederatedData:
  """All clients' examples as one client (client order kept): the data of a
  centralized baseline."""
  counts = np.asarray(data.counts)
  examples = {k: np.concatenate([np.asarray(v)[i, :n] for i, n in enumerate(counts)])
              for k, v in data.examples.items()}
  return from_client_arrays([examples], 'pooled data')
