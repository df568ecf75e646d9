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

In a multi-process run each process holds one block of the client states
(`Block`; a disk store in its own directory, `fedjax_sim.run.record`): a
round's sampled rows come from their owners and each process writes back the
rows it holds (`fedjax_sim.distributed.rows_from_owners`); a checkpoint saves
every block. The data set is read-only, and each process reads the sampled
clients' rows from its own copy (a streamed store reads only those rows).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from fedjax_sim.core.placement import gather_rows, host_client_states, scatter_rows
from fedjax_sim.distributed import all_blocks, local_block, process_blocks, rows_from_owners
from fedjax_sim.run.disk_states import open_population
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
    every_client: `state -> every client's state` (personalized evaluation).
  """

  init: Callable[[PyTree, PyTree, PyTree], RoundState]
  gather: Callable[[RoundState, np.ndarray], RoundInputs]
  scatter: Callable[[RoundState, RoundState, np.ndarray, int], RoundState]
  checkpoint: Callable[[RoundState], RoundState]
  committed: Callable[[int], None]
  restore: Callable[[RoundState, int | None], RoundState]
  close: Callable[[], None]
  every_client: Callable[[RoundState], PyTree]


class Block(NamedTuple):
  """The clients whose states a process holds: ids `[start, stop)` of
  `clients`, in `rows >= stop - start` rows (padded for
  `fedjax_sim.distributed.process_blocks`)."""

  start: int
  stop: int
  rows: int
  clients: int

  def holds(self, ids: np.ndarray) -> np.ndarray:
    """Which of `ids` this block holds."""
    return (ids >= self.start) & (ids < self.stop)


def block_of(num_clients: int, process: int, processes: int, local_devices: int) -> Block:
  """Process `process`'s block of `num_clients` clients: contiguous blocks of
  equal rows, a multiple of the local device count when there are several
  processes (one process: every client, unpadded)."""
  if processes == 1:
    return Block(0, num_clients, num_clients, num_clients)
  rows = -(-num_clients // (processes * local_devices)) * local_devices
  start = min(process * rows, num_clients)
  return Block(start, min(start + rows, num_clients), rows, num_clients)


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
                    _nothing, lambda state, rounds_done: place(state), _nothing,
                    lambda state: state.clients)


def _rows(train: Data, ids: np.ndarray) -> PyTree:
  """The sampled clients' data rows (a store reads only them from disk)."""
  return train.gather(ids) if isinstance(train, ClientStore) else gather_rows(train, ids)


def _inputs(state: RoundState, block: Block, read: Callable[[np.ndarray], PyTree], train: Data,
            ids: np.ndarray, place: Place) -> RoundInputs:
  """The round's inputs when `clients` and the data hold only the sampled
  rows; `read` gives the rows of the block's own (local) row numbers."""
  mine = block.holds(ids)
  clients = rows_from_owners(read(ids[mine] - block.start), mine)
  return RoundInputs(state._replace(clients=place(clients)), place(_rows(train, ids)),
                     {'data_rows': np.arange(len(ids), dtype=np.int32)})


def _own_rows(block: Block, ids: np.ndarray, after: RoundState) -> tuple[np.ndarray, PyTree]:
  """The block's local row numbers among `ids` and their new client states."""
  mine = block.holds(ids)
  return ids[mine] - block.start, jax.tree.map(lambda a: np.asarray(a)[mine], after.clients)


def host(train: Data, block: Block, place: Place) -> Population:
  """Data and the block's client states in host memory; rounds move the
  sampled rows."""

  def init(server, one, aggregator):
    return RoundState(server, host_client_states(one, block.rows), aggregator)

  def scatter(before, after, ids, rounds_done):
    del rounds_done
    scatter_rows(before.clients, *_own_rows(block, ids, after))
    return after._replace(clients=before.clients)

  def restore(state, rounds_done):  # writable host arrays (a restore gives read-only ones)
    clients = jax.tree.map(np.array, state.clients) if rounds_done is None else local_block(
        state.clients)
    return RoundState(place(state.server), clients, place(state.aggregator))

  return Population(init, lambda state, ids: _inputs(
      state, block, lambda rows: gather_rows(state.clients, rows), train, ids, place),
                    scatter, lambda state: state._replace(clients=process_blocks(state.clients)),
                    _nothing, restore, _nothing,
                    lambda state: all_blocks(state.clients, block.clients))


def disk(train: Data, block: Block, place: Place, directory: str | None) -> Population:
  """As `host`, the block's client states in a store in `directory` (None: a
  temporary one, removed by `close`)."""
  one_state, stores = [], []  # set by `init`; the store `restore` opens

  def init(server, one, aggregator):
    one_state[:] = [one]  # the store is filled (or rolled back) by `restore`
    return RoundState(server, (), aggregator)

  def restore(state, rounds_done):
    stores[:] = [open_population(directory, one_state[0], block.rows, rounds_done)]
    return RoundState(place(state.server), stores[0].states, place(state.aggregator))

  def scatter(before, after, ids, rounds_done):
    stores[0].write(rounds_done, *_own_rows(block, ids, after))
    return after._replace(clients=before.clients)

  def checkpoint(state):
    for store in stores:  # its files match the checkpoint about to be saved
      store.flush()
    return state._replace(clients=())

  def close():
    for store in stores:
      store.close(remove=directory is None)

  return Population(init, lambda state, ids: _inputs(state, block, stores[0].gather, train,
                                                            ids, place),
                    scatter, checkpoint, lambda oldest: stores[0].checkpointed(oldest),
                    restore, close, lambda state: all_blocks(state.clients, block.clients))
