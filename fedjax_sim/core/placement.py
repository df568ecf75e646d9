"""Where the client population lives: on the device, in host memory, or on disk.

`device`: the whole data set and every client's persistent state (SCAFFOLD
controls, error-feedback residuals, Ditto models) are device arrays
`[num_clients, ...]` in the round's inputs. `host`: both stay NumPy arrays
in host memory, and each round moves only the sampled clients' rows to the
device and their new states back (`build_round(..., client_rows=True)` with
`data_rows`), so device memory does not grow with the population. The round
computes the same values either way (bit for bit). `disk`: as `host`, but
the client states are memory-mapped files (`fedjax_sim.run.disk_states`),
for populations whose states exceed host memory; `auto` never picks it.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from fedjax_sim.core import refusals
from fedjax_sim.errors import ConfigError

PLACEMENTS = ('auto', 'device', 'host', 'disk')
# `auto` keeps a population on the device while its data and client states
# take at most this many bytes.
DEVICE_BYTES = 1 << 30
PyTree = Any


def tree_bytes(tree: PyTree) -> int:
  """Bytes of the arrays (or shape-dtype structs) of `tree`."""
  return sum(math.prod(np.shape(a)) * np.dtype(a.dtype).itemsize
             for a in jax.tree.leaves(tree))


def choose_placement(placement: str, population_bytes: int, streamed: bool = False) -> str:
  """`device`, `host` or `disk` for `engine.population=placement`; data
  streamed from disk is always gathered on the host."""
  if placement not in PLACEMENTS:
    raise ConfigError(f'engine.population must be one of {list(PLACEMENTS)}, '
                      f'got {placement!r}')
  if streamed:
    refusals.refuse(refusals.STREAMED_DEVICE, placement)
    return 'disk' if placement == 'disk' else 'host'
  if placement == 'auto':
    return 'host' if population_bytes > DEVICE_BYTES else 'device'
  return placement


def host_client_states(one: PyTree, num_clients: int) -> PyTree:
  """Every client's initial state `one`, as writable NumPy `[num_clients, ...]`
  in C order: each client's row is contiguous, so a round reads and writes
  only its sampled clients' pages. (`np.array` of the broadcast would keep its
  stride-0 client axis innermost, and every row would span the whole array.)"""
  return jax.tree.map(
      lambda a: np.array(np.broadcast_to(np.asarray(a), (num_clients,) + np.shape(a)),
                         order='C'), one)


def gather_rows(tree: PyTree, ids: np.ndarray) -> PyTree:
  """Rows `ids` (in that order) of every `[num_clients, ...]` leaf."""
  return jax.tree.map(lambda a: np.take(a, ids, axis=0), tree)


def scatter_rows(tree: PyTree, ids: np.ndarray, rows: PyTree) -> None:
  """Writes `rows` (`[len(ids), ...]` per leaf) into rows `ids` of `tree`, in place."""
  def write(a, r):
    a[ids] = np.asarray(r)
  jax.tree.map(write, tree, rows)
