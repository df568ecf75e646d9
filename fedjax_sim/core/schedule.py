"""The order in which a round's sampled clients are mapped.

Clients run their own number of local steps, and clients mapped together
(a `vmap`ped chunk) run in lock-step until the longest is done. Sorting the
sampled clients by steps, longest first, makes every chunk hold clients of
similar length (bucketing), so a round costs about the clients' real steps.
Over the D devices of a mesh the sorted clients are dealt in laps of D, one
client per device per lap (so each device's share stays sorted and equal in
number), the lap's longest client to the device with the fewest steps so far:
a heavy-tailed head (one writer with twice anyone else's steps) is evened out
by the laps after it, which dealing in a fixed snake order
(0, 1, ..., D-1, D-1, ..., 0) does not do. The order is a function of the
steps only (no shape depends on which clients were sampled).
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
  if num_devices == 1:
    return order
  laps = order.reshape(num // num_devices, num_devices)
  device = jnp.arange(num_devices, dtype=jnp.int32)

  def deal(totals: jax.Array, lap: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Each device's rank by steps so far (0: the fewest; ties to the lower
    # device): device d takes the lap's client rank[d]. Comparisons, not a
    # sort, as the scan runs once per lap in every round.
    lighter = (totals[None, :] < totals[:, None]) | (
        (totals[None, :] == totals[:, None]) & (device[None, :] < device[:, None]))
    rank = lighter.sum(1, dtype=jnp.int32)
    return totals + steps[lap[rank]], rank

  _, rank = jax.lax.scan(deal, jnp.zeros(num_devices, steps.dtype), laps)
  slot = device * laps.shape[0] + jnp.arange(laps.shape[0], dtype=jnp.int32)[:, None]
  return jnp.zeros(num, jnp.int32).at[slot.ravel()].set(
      jnp.take_along_axis(laps, rank, axis=1).ravel())


def inverse(perm: jax.Array) -> jax.Array:
  """The inverse permutation of `perm`."""
  return jnp.zeros_like(perm).at[perm].set(jnp.arange(perm.shape[0], dtype=perm.dtype))
