"""Top-k sparsification: keep the `fraction` largest-magnitude coordinates of
each tensor (Aji & Heafield 2017; with error feedback, Stich et al. 2018)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fedjax_sim.compression.compressor import Compressor, per_tensor

ENTRY_BYTES = 8  # a float32 value and an int32 index


def num_kept(size: int, fraction: float) -> int:
  """k = round(fraction * size), at least 1."""
  return max(1, round(fraction * size))


def top_k_tensor(x: jax.Array, fraction: float) -> jax.Array:
  """`x` with all but its k largest-magnitude coordinates set to zero."""
  flat = x.reshape(-1)
  _, kept = jax.lax.top_k(jnp.abs(flat), num_kept(flat.size, fraction))
  return jnp.zeros_like(flat).at[kept].set(flat[kept]).reshape(x.shape)


def top_k(fraction: float) -> Compressor:
  return per_tensor(lambda x, key: top_k_tensor(x, fraction),
                    lambda size: ENTRY_BYTES * num_kept(size, fraction))
