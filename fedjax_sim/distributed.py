"""Multi-process runs on JAX's own runtime (`jax.distributed`).

Every process runs the same program on the same (seeded, hence identical)
inputs; the round's `shard_map` gives each process's devices only their share
of the sampled clients and all-reduces the sums across processes (gloo on
CPU, NCCL on GPU), so the result equals a single-process run on as many
devices, bit for bit (the all-reduce adds the same partial sums; on another
number of devices the sums are grouped otherwise, to float rounding).

Host and disk populations hold each process's block of the client states
(`fedjax_sim.run.population`): a round's sampled rows come from their owners
(`rows_from_owners`) and a checkpoint saves every block (`process_blocks`).

Process 0 writes the run's logs; the few host decisions that could differ
between processes (a stop signal, which checkpoint is intact) are taken by
process 0 or agreed on with the functions below. With one process each of
them is the value itself.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fedjax_sim.errors import ConfigError

PyTree = Any


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
  """Joins a `num_processes`-process run coordinated at `coordinator_address`."""
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise ConfigError(f'--process_id must be in [0, --num_processes={num_processes}), '
                      f'got {process_id}')
  if not coordinator_address:
    raise ConfigError('--coordinator_address (host:port) is needed with --num_processes > 1')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                             process_id=process_id)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
  """`tree` as global arrays replicated over `mesh` (every process passes the
  same values)."""
  sharding = NamedSharding(mesh, P())
  return jax.tree.map(
      lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), tree)


def is_primary() -> bool:
  """Whether this process writes the run's logs (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name`."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def from_primary(value: int) -> int:
  """Process 0's `value` (an int, e.g. a checkpoint step; -1 for none)."""
  if jax.process_count() == 1:
    return value
  return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process (e.g. a stop signal)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def rows_from_owners(own: PyTree, mine: np.ndarray) -> PyTree:
  """The rows of a round's sampled clients, each from the process that holds
  it: every process passes `mine` (which of the `len(mine)` rows it holds)
  and `own`, those rows (`[mine.sum(), ...]` per leaf)."""
  if jax.process_count() == 1:
    return own

  def padded(a):
    full = np.zeros((len(mine),) + a.shape[1:], a.dtype)
    full[mine] = a
    return full

  every, masks = multihost_utils.process_allgather((jax.tree.map(padded, own), mine))
  owner, row = np.argmax(masks, axis=0), np.arange(len(mine))
  return jax.tree.map(lambda a: a[owner, row], every)


def _block_sharding() -> NamedSharding:
  """Rows split over every device, each process's devices holding its block."""
  return NamedSharding(Mesh(np.array(jax.devices()), ('rows',)), P('rows'))


def process_blocks(block: PyTree) -> PyTree:
  """Every process's `[rows, ...]` block as one global array per leaf,
  process p's block at rows `p * rows` (what orbax saves shard by shard);
  with one process `block` itself. `rows` must divide by the local devices."""
  if jax.process_count() == 1:
    return block
  sharding = _block_sharding()
  return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), block)


def local_block(tree: PyTree) -> PyTree:
  """This process's block of `process_blocks`'s global arrays, as writable NumPy."""
  if jax.process_count() == 1:
    return jax.tree.map(np.array, tree)

  def block(a):
    shards = sorted(a.addressable_shards, key=lambda s: s.index[0].start or 0)
    return np.concatenate([np.asarray(s.data) for s in shards])

  return jax.tree.map(block, tree)


def all_blocks(block: PyTree, num_rows: int) -> PyTree:
  """Every process's `[rows, ...]` block joined in process order, cut to
  `num_rows` rows (with one process `block` itself)."""
  if jax.process_count() == 1:
    return block
  every = multihost_utils.process_allgather(block)
  return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:])[:num_rows], every)
