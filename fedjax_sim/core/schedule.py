"""The order in which a round's sampled clients are mapped.

Clients run their own number of local steps, and clients mapped together
(a `vmap`ped chunk) run in lock-step until the longest is done. Sorting the
sampled clients by steps, longest first, makes every chunk hold clients of
similar length (bucketing), so a round costs about the clients' real steps;
dealing the sorted clients over the devices of a mesh in snake order
(0, 1, ..., D-1, D-1, ..., 0, ...) gives every device a sorted share with
balanced total steps. The order is a function of the steps only (no shape
depends on which clients were sampled).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def balanced_order(steps: jax.Array, num_devices: int = 1) -> jax.Array:
  """Permutation `perm` of the client axis (`steps [P]`, P a multiple of
  `num_devices`): position `j` of the mapped axis runs client `perm[j]`; the
  `P / num_devices` consecutive positions of each device are sorted by steps,
  longest first, and the devices' totals are balanced."""
  num = steps.shape[0]
  order = jnp.argsort(-steps, stable=True).astype(jnp.int32)
  k = jnp.arange(num, dtype=jnp.int32)
  lap, lane = k // num_devices, k % num_devices
  device = jnp.where(lap % 2 == 0, lane, num_devices - 1 - lane)
  slot = device * (num // num_devices) + lap
  return jnp.zeros(num, jnp.int32).at[slot].set(order)


def inverse(perm: jax.Array) -> jax.Array:
  """The inverse permutation of `perm`."""
  return jnp.zeros_like(perm).at[perm].set(jnp.arange(perm.shape[0], dtype=perm.dtype))
