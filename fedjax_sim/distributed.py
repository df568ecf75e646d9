"""Multi-process runs on JAX's own runtime (`jax.distributed`).

Every process runs the same program on the same (seeded, hence identical)
inputs; the round's `shard_map` gives each process's devices only their share
of the sampled clients and all-reduces the sums across processes (gloo on
CPU, NCCL on GPU), so the result equals a single-process run.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
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
