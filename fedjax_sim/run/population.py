"""The population part of a run: where client data and persistent client
states live, and how a round's sampled rows reach the devices.

Three implementations of one interface (`Population`):
- `device`: the data set and every client's state are device arrays (global
  arrays replicated over the mesh in multi-process runs) in the round's inputs;
- `host`: both stay NumPy arrays in host memory; a round moves only the
  sampled clients' rows to the devices and their new states back
  (`fedjax_sim.core.placement`);
- `disk`: as `host`, the client states in memory-mapped files with a rollback
  journal (`fedjax_sim.run.disk_states`), which checkpoints leave out.

In a multi-process run every process computes the same round outputs, so a
host or disk population is each process's own full copy (a disk store in
its own directory, `fedjax_sim.run.record`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from fedjax_sim.run.disk_states import open_population
from fedjax_sim.core.placement import gather_rows, host_client_states, scatter_rows
from fedjax_sim.core.round import RoundFn, RoundState
from fedjax_sim.data.client_store import ClientStore
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.packed import for_round

PyTree = Any
Place = Callable[[PyTree], PyTree]  # host values -> the round's input arrays
Data = FederatedData | ClientStore


class RoundInputs(NamedTuple):
  """A round's state and data as the round program takes them."""

  state: RoundState
  data: PyTree
  rows: dict[str, np.ndarray]  # `data_rows` when `data` holds only the sampled rows


class Population(NamedTuple):
  """Where a run's clients live.

  Attributes:
    init: `(server, one_client_state, aggregator) -> RoundState` before round 0.
    gather: `(state, ids) -> RoundInputs` of the sampled clients `ids`.
    scatter: `(before, after, ids, rounds_done) -> state`: the round's new
      client states (`after`) written back into the population.
    checkpoint: `state -> what a checkpoint holds` (disk: no client states).
    committed: `oldest_kept_round -> None`, after a checkpoint is saved.
    restore: `(checkpointed or initial state, rounds_done or None) -> state`.
    close: `() -> None`, at the end of the run.
  """

  init: Callable[[PyTree, PyTree, PyTree], RoundState]
  gather: Callable[[RoundState, np.ndarray], RoundInputs]
  scatter: Callable[[RoundState, RoundState, np.ndarray, int], RoundState]
  checkpoint: Callable[[RoundState], RoundState]
  committed: Callable[[int], None]
  restore: Callable[[RoundState, int | None], RoundState]
  close: Callable[[], None]


def run_round(population: Population, round_fn: RoundFn, state: RoundState, ids: jax.Array,
              key: jax.Array, behaviour: dict, rounds_done: int, place: Place
              ) -> tuple[RoundState, dict]:
  """One round on `population`: gather the sampled rows, run, scatter back."""
  host_ids = np.asarray(ids)
  inputs = population.gather(state, host_ids)
  new, metrics = round_fn(inputs.state, inputs.data, place(ids), place(key),
                          **place(inputs.rows), **place(behaviour))
  return population.scatter(state, new, host_ids, rounds_done), metrics


def _nothing(*args) -> None:
  del args


def device(train: FederatedData, num_clients: int, place: Place) -> Population:
  """Data and client states on the devices (packed where padding would waste
  much memory, `fedjax_sim.data.packed`)."""
  data = place(for_round(train))

  def init(server, one, aggregator):
    clients = jax.tree.map(lambda a: np.broadcast_to(a, (num_clients,) + np.shape(a)), one)
    return RoundState(server, clients, aggregator)

  return Population(init, lambda state, ids: RoundInputs(state, data, {}),
                    lambda before, after, ids, rounds_done: after, lambda state: state,
                    _nothing, lambda state, rounds_done: place(state), _nothing)


def _rows(train: Data, ids: np.ndarray) -> PyTree:
  """The sampled clients' data rows (a store reads only them from disk)."""
  return train.gather(ids) if isinstance(train, ClientStore) else gather_rows(train, ids)


def _inputs(state: RoundState, clients: PyTree, train: Data, ids: np.ndarray,
            place: Place) -> RoundInputs:
  """The round's inputs when `clients` and the data hold only the sampled rows."""
  return RoundInputs(state._replace(clients=place(clients)), place(_rows(train, ids)),
                     {'data_rows': np.arange(len(ids), dtype=np.int32)})


def host(train: Data, num_clients: int, place: Place) -> Population:
  """Data and client states in host memory; rounds move the sampled rows."""

  def init(server, one, aggregator):
    return RoundState(server, host_client_states(one, num_clients), aggregator)

  def scatter(before, after, ids, rounds_done):
    del rounds_done
    scatter_rows(before.clients, ids, after.clients)
    return after._replace(clients=before.clients)

  def restore(state, rounds_done):
    del rounds_done  # writable host arrays (a restore gives read-only ones)
    return RoundState(place(state.server), jax.tree.map(np.array, state.clients),
                      place(state.aggregator))

  return Population(init, lambda state, ids: _inputs(state, gather_rows(state.clients, ids),
                                                     train, ids, place),
                    scatter, lambda state: state, _nothing, restore, _nothing)


def disk(train: Data, num_clients: int, place: Place, directory: str | None) -> Population:
  """As `host`, the client states in a store in `directory` (None: a
  temporary one, removed by `close`)."""
  one_state, stores = [], []  # set by `init`; the store `restore` opens

  def init(server, one, aggregator):
    one_state[:] = [one]  # the store is filled (or rolled back) by `restore`
    return RoundState(server, (), aggregator)

  def restore(state, rounds_done):
    stores[:] = [open_population(directory, one_state[0], num_clients, rounds_done)]
    return RoundState(place(state.server), stores[0].states, place(state.aggregator))

  def scatter(before, after, ids, rounds_done):
    stores[0].write(rounds_done, ids, after.clients)
    return after._replace(clients=before.clients)

  def checkpoint(state):
    for store in stores:  # its files match the checkpoint about to be saved
      store.flush()
    return state._replace(clients=())

  def close():
    for store in stores:
      store.close(remove=directory is None)

  return Population(init, lambda state, ids: _inputs(state, stores[0].gather(ids), train, ids,
                                                            place),
                    scatter, checkpoint, lambda oldest: stores[0].checkpointed(oldest),
                    restore, close)
