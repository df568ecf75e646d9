"""`strategy='auto'`: the engine picks how clients are mapped.

The choice is a pure function of the backend, the model's size, the number
of clients per device and (on accelerators) the memory one client needs, so
it is deterministic for a given backend. Measured on a 2-core CPU
(`benchmarks/RESULTS.md`): one client at a time (`sequential`) is fastest for
models whose step is a real matmul (the 784-200-10 MLP), while tiny models
(logistic regression, 610 parameters) are dominated by per-client fixed
cost, which `CPU_CHUNK` clients stepped together amortize: in `lanes` (8-10%
faster than `vmap`ped chunks of the same width, on equal and ragged sizes),
or in chunks for algorithms that cannot run in lanes.
On an accelerator a wide `vmap` is what fills the device: as many clients
as XLA's memory analysis says fit in `MEMORY_FRACTION` of the free memory.
When all of a device's clients fit, they run as one `vmap`ped chunk; when
they do not, they run in `lanes` of that width (a lane moves on to its next
client as soon as one is done, so ragged clients cost their real steps, not
each chunk's longest), or in chunks for algorithms that cannot run in lanes.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from fedjax_sim.core import lane_loops

PyTree = Any

CPU_CHUNK = 8
# Models whose update has fewer elements than this step several clients
# together on a CPU.
CPU_SMALL_MODEL = 16_384
MEMORY_FRACTION = 0.5


class Layout(NamedTuple):
  """A concrete mapping of clients: a strategy of `mapping.STRATEGIES` and
  its chunk size."""

  strategy: str
  chunk_size: int

  @property
  def group_size(self) -> int:
    """Clients per device are padded to a multiple of this."""
    return self.chunk_size if self.strategy in ('chunked', 'lanes') else 1

  def describe(self) -> str:
    return self.strategy + (f':{self.chunk_size}' if self.strategy in ('chunked', 'lanes')
                            else '')


def choose_layout(platform: str, update_size: int, clients_per_device: int,
                  client_bytes: int = 0, free_bytes: int = 0,
                  lanes_ok: bool = False) -> Layout:
  """The layout `auto` runs.

  Args:
    platform: the devices' platform ('cpu', 'gpu', 'tpu', ...).
    update_size: elements of one client's update (the model's size).
    clients_per_device: sampled clients each device maps.
    client_bytes: accelerators: XLA's temporary memory for one client.
    free_bytes: accelerators: device memory free for those temporaries.
    lanes_ok: the client update can run in `lanes`.
  """
  if platform == 'cpu':
    if update_size < CPU_SMALL_MODEL and clients_per_device >= 2 * CPU_CHUNK:
      return Layout('lanes' if lanes_ok else 'chunked', CPU_CHUNK)
    return Layout('sequential', 1)
  fit = max(1, int(MEMORY_FRACTION * free_bytes) // max(client_bytes, 1))
  if lanes_ok and fit < clients_per_device:
    return Layout('lanes', fit)
  return Layout('chunked', min(fit, clients_per_device))


def first_device(mesh: Mesh | None) -> jax.Device:
  """The first device of `mesh`, or the default device."""
  return mesh.devices.flat[0] if mesh else jax.devices()[0]


def platform(mesh: Mesh | None) -> str:
  """The platform (cpu, gpu, tpu) of `mesh`'s devices."""
  return first_device(mesh).platform


def auto_layout(one_client: Callable, shared: PyTree, example: tuple, stacked: bool,
                clients_per_device: int, mesh: Mesh | None) -> Layout:
  """`choose_layout` for a round of `one_client(shared, *example)`, from
  abstract shapes only (and, off the CPU, the client's compiled memory)."""
  abstract = lambda tree: jax.tree.map(  # noqa: E731
      lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree)
  summed, stacked_out = jax.eval_shape(one_client, abstract(shared), *example)
  update = stacked_out[1][0] if stacked else summed[2]
  update_size = sum(math.prod(a.shape) for a in jax.tree.leaves(update))
  backend = platform(mesh)
  lanes_ok = lane_loops.supported(functools.partial(one_client, shared), example)
  if backend == 'cpu':
    return choose_layout(backend, update_size, clients_per_device, lanes_ok=lanes_ok)
  memory = jax.jit(one_client).lower(abstract(shared), *abstract(example)).compile()
  memory = memory.memory_analysis()
  client_bytes = memory.temp_size_in_bytes + memory.output_size_in_bytes
  free = _free_bytes(first_device(mesh))
  return choose_layout(backend, update_size, clients_per_device, client_bytes, free, lanes_ok)


def _free_bytes(device: jax.Device) -> int:
  """Device memory not in use (0 where the device does not say)."""
  stats = device.memory_stats() or {}
  return stats.get('bytes_limit', 0) - stats.get('bytes_in_use', 0)
