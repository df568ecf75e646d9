"""The coordinate-wise trimmed mean shared by the median and trimmed-mean rules.

Robust rules ignore example weights, except that a client with weight 0 (an
empty client) is absent: it takes no part in any order statistic. Absent
clients are sorted past every present one (as `+inf`), so the `k` present
values of a coordinate are its first `k` sorted entries, and dropping `t` from
each side keeps sorted ranks `[t, k - t)`. The median is the case
`t = (k - 1) // 2` (the middle one or two values).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def num_present(weights: jax.Array) -> jax.Array:
  """int32: how many clients take part (weight > 0)."""
  return jnp.sum(weights > 0).astype(jnp.int32)


def middle_mean(updates: PyTree, weights: jax.Array, trim: jax.Array) -> PyTree:
  """Coordinate-wise mean of the present values left after dropping the `trim`
  smallest and `trim` largest; zeros if nothing is left (e.g. no client).

  Args:
    updates: leaves `[clients, ...]`.
    weights: `[clients]`; clients with weight 0 are absent.
    trim: int32 scalar, values dropped from each side.
  """
  count = num_present(weights)
  ranks = jnp.arange(weights.shape[0])
  keep = (ranks >= trim) & (ranks < count - trim)
  kept = jnp.maximum(count - 2 * trim, 1).astype(jnp.float32)

  def leaf_mean(leaf):
    expand = lambda v: v.reshape((-1,) + (1,) * (leaf.ndim - 1))
    ordered = jnp.sort(jnp.where(expand(weights > 0), leaf, jnp.inf), axis=0)
    return jnp.sum(jnp.where(expand(keep), ordered, 0.), axis=0) / kept

  return jax.tree.map(leaf_mean, updates)
