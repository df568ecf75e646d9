"""`Aggregator`: how the server combines the sampled clients' updates.

Like an optax transform, an aggregator is a pair of pure functions plus its
own state: `prepare` runs on each client's update inside the mapped client
function (clipping, weighting), `combine` runs once on the reduction and
returns a reduction again; the aggregate is `updates / weights` of the last
one (`finish`). Sum-based rules (`stacked=False`) are reduced inside the
client map, so memory does not grow with clients per round; order statistics
(median, Krum) ask for the stacked updates instead (`stacked=True`) and hand
on their aggregate with weight 1 (`as_aggregate`). With one contract,
aggregators compose: `chain(clip(1.), trimmed_mean(0.1), dp_noise(...))`
(`fedjax_sim.aggregators.chain`).
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
    combine: `(reduced, state, key) -> (reduced, state, metrics)`: the
      reduction, transformed (`passthrough` leaves it as it is); the
      aggregate is `finish` of the result.
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


def passthrough(reduced: Reduced, state, key):
  """A `combine` that changes nothing (for rules that only `prepare`)."""
  del key
  return reduced, state, {}


def finish(reduced: Reduced) -> PyTree:
  """The aggregate of a (summed) reduction: `updates / weights`; zeros when
  the weights sum to 0."""
  return safe_divide(reduced.updates, reduced.weights)


def as_aggregate(aggregate: PyTree, stats: dict[str, jax.Array]) -> Reduced:
  """The reduction an order statistic hands on: its aggregate with weight 1,
  and its (stacked) stats summed over the clients."""
  return Reduced(aggregate, jnp.float32(1.), {k: jnp.sum(v, axis=0) for k, v in stats.items()})


def weighted_mean() -> Aggregator:
  """The FedAvg aggregate: sum of weight * update over the total weight."""
  return Aggregator(no_state, keep, passthrough)
