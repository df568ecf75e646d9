"""`Aggregator`: how the server combines the sampled clients' updates.

Like an optax transform, an aggregator is a pair of pure functions plus its
own state: `prepare` runs on each client's update inside the mapped client
function (clipping, weighting), `combine` runs once on the reduction. Sum-based
aggregators (`stacked=False`) are reduced inside the client map, so memory does
not grow with clients per round; order statistics (median, Krum) ask for the
stacked updates instead (`stacked=True`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any


class Reduced(NamedTuple):
  """What `combine` receives.

  Attributes:
    updates: sum over clients of `weight * update` (`stacked=False`), or the
      updates stacked on a leading client axis (`stacked=True`).
    weights: the total weight, or the per-client weights `[clients]`.
    stats: the per-client `stats` of `prepare`, summed or stacked likewise.
  """

  updates: PyTree
  weights: jax.Array
  stats: dict[str, jax.Array]


class Aggregator(NamedTuple):
  """Pure functions of an aggregation rule.

  Attributes:
    init: `() -> aggregator_state`.
    prepare: `(update, weight, state, key) -> (update, weight, stats)`, per
      client; `stats` is a dict of scalars (summed or stacked for `combine`).
    combine: `(reduced, state, key) -> (aggregate, state, metrics)`.
    stacked: whether `combine` needs every client's update (see `Reduced`).
  """

  init: Callable[[], PyTree]
  prepare: Callable[[PyTree, jax.Array, PyTree, jax.Array],
                    tuple[PyTree, jax.Array, dict[str, jax.Array]]]
  combine: Callable[[Reduced, PyTree, jax.Array],
                    tuple[PyTree, PyTree, dict[str, jax.Array]]]
  stacked: bool = False


def no_state() -> tuple:
  return ()


def keep(update, weight, state, key):
  """A `prepare` that changes nothing."""
  del state, key
  return update, weight, {}


def safe_divide(total: PyTree, weight: jax.Array) -> PyTree:
  """`total / weight`, with an all-zero-weight round giving zeros."""
  denom = jnp.maximum(weight, jnp.finfo(jnp.float32).tiny)
  return jax.tree.map(lambda t: t / denom, total)


def weighted_mean() -> Aggregator:
  """The FedAvg aggregate: sum of weight * update over the total weight."""

  def combine(reduced: Reduced, state, key):
    del key
    return safe_divide(reduced.updates, reduced.weights), state, {}

  return Aggregator(no_state, keep, combine)
