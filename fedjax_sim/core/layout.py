"""`strategy='auto'`: the engine picks how clients are mapped.

The choice is a pure function of the backend, the model's size, the number
of clients per device and (on accelerators) the memory one client needs, so
it is deterministic for a given backend. Measured on a 2-core CPU
(`benchmarks/RESULTS.md`): one client at a time (`sequential`) is fastest for
models whose step is a real matmul (the 784-200-10 MLP), while tiny models
(logistic regression, 610 parameters) are dominated by per-client fixed
cost, which a `vmap`ped chunk of `CPU_CHUNK` clients amortizes. On an
accelerator a wide `vmap` is what fills the device: the chunk is as large as
XLA's memory analysis says fits in `MEMORY_FRACTION` of the free memory.
"""

from __future__ import annotations

from typing import NamedTuple

CPU_CHUNK = 8
# Models whose update has fewer elements than this vmap chunks on a CPU.
CPU_SMALL_MODEL = 16_384
MEMORY_FRACTION = 0.5


class Layout(NamedTuple):
  """A concrete mapping of clients: a strategy of `mapping.STRATEGIES` and
  its chunk size."""

  strategy: str
  chunk_size: int

  def describe(self) -> str:
    return self.strategy + (f':{self.chunk_size}' if self.strategy == 'chunked' else '')


def choose_layout(platform: str, update_size: int, clients_per_device: int,
                  client_bytes: int = 0, free_bytes: int = 0) -> Layout:
  """The layout `auto` runs.

  Args:
    platform: the devices' platform ('cpu', 'gpu', 'tpu', ...).
    update_size: elements of one client's update (the model's size).
    clients_per_device: sampled clients each device maps.
    client_bytes: accelerators: XLA's temporary memory for one client.
    free_bytes: accelerators: device memory free for those temporaries.
  """
  if platform == 'cpu':
    if update_size < CPU_SMALL_MODEL and clients_per_device >= 2 * CPU_CHUNK:
      return Layout('chunked', CPU_CHUNK)
    return Layout('sequential', 1)
  fit = int(MEMORY_FRACTION * free_bytes) // max(client_bytes, 1)
  return Layout('chunked', max(1, min(fit, clients_per_device)))
