"""Client-axis sharding: the sampled clients split over a device mesh.

Each device maps its share of the clients with the usual strategy and sums
locally; one `psum` over the `clients` mesh axis reduces across devices. The
round stays one XLA program (`shard_map` inside the jitted round).
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import Any, Callable

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fedjax_sim.core.mapping import map_and_sum

AXIS = 'clients'
PyTree = Any


def client_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh with axis `clients` over `devices` (default: all devices)."""
  return Mesh(np.asarray(devices or jax.devices()), (AXIS,))


def sharded_map_and_sum(fn: Callable[..., tuple[PyTree, PyTree]], shared: PyTree,
                        xs: PyTree, strategy: str, chunk_size: int,
                        mesh: Mesh) -> tuple[PyTree, PyTree]:
  """`map_and_sum` of `fn(shared, *x)` with the client axis of `xs` (a multiple
  of the device count times the chunk) sharded over `mesh`; `shared` (server
  state, data, keys) is replicated; sums are all-reduced and the small
  per-client outputs all-gathered, so every output is replicated (readable on
  every host of a multi-process run)."""

  def local(shared, *shard):
    summed, stacked = map_and_sum(functools.partial(fn, shared), shard, strategy,
                                  chunk_size, shared)
    return (jax.lax.psum(summed, AXIS),
            jax.lax.all_gather(stacked, AXIS, tiled=True))

  specs = (P(),) + tuple(P(AXIS) for _ in xs)
  return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=(P(), P()),
                       check_vma=False)(shared, *xs)


def replicator(mesh: Mesh) -> Callable[[PyTree], PyTree]:
  """`place(tree)`: `tree` replicated over `mesh`. Arrays already replicated
  there are returned as they are; a device array placed elsewhere is copied
  once and the copy reused while the caller holds the original (data passed
  every round is not copied every round); NumPy inputs are copied each time."""
  sharding = NamedSharding(mesh, P())
  copies: dict[int, tuple[weakref.ref, jax.Array]] = {}

  def place_leaf(a):
    if not isinstance(a, jax.Array):
      return jax.device_put(a, sharding)
    if a.sharding.is_equivalent_to(sharding, a.ndim):
      return a
    ref, copy = copies.get(id(a), (None, None))
    if ref is None or ref() is not a:
      copy = jax.device_put(a, sharding)
      copies[id(a)] = (weakref.ref(a, lambda _, key=id(a): copies.pop(key, None)), copy)
    return copy

  return lambda tree: jax.tree.map(place_leaf, tree)


def auto_mesh() -> Mesh | None:
  """The mesh `strategy='auto'` uses: every device, or None with only one."""
  return client_mesh() if jax.device_count() > 1 else None


def use_cpu_cores(count: int | None = None) -> int:
  """Splits the host CPU into `count` XLA devices (default: one per core this
  process may use), so `auto` spreads clients over every core.

  Call it right after `import jax`, before JAX runs anything; a device count
  already set in `XLA_FLAGS` (`--xla_force_host_platform_device_count`) is
  kept. Returns the number of CPU devices asked for (0 when left as it was).
  """
  if 'xla_force_host_platform_device_count' in os.environ.get('XLA_FLAGS', ''):
    return 0
  count = count or len(os.sched_getaffinity(0))
  try:
    jax.config.update('jax_num_cpu_devices', count)
  except RuntimeError as e:  # JAX has already started its backends
    logging.warning('use_cpu_cores: %s; keeping %d CPU device(s)', e,
                    len(jax.devices('cpu')))
    return 0
  return count
