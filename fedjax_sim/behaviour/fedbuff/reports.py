"""The wrapped algorithm's aggregator on buffered reports: each client's
update is prepared when it trains (clipped, reweighted: the aggregator's
per-client `prepare`, with its state then), and every server update
combines the K reports it takes, each discounted by its staleness factor."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fedjax_sim.core.aggregator import Aggregator, Reduced, finish

PyTree = Any


def prepare(aggregator: Aggregator, updates: PyTree, weights: jax.Array, state: PyTree,
            keys: jax.Array) -> tuple[PyTree, jax.Array, dict[str, jax.Array]]:
  """`aggregator.prepare` of each stacked report; a report of weight 0 (not
  sent) stays weight 0 and its stats 0."""
  updates, prepared, stats = jax.vmap(
      lambda u, w, k: aggregator.prepare(u, w, state, k))(updates, weights, keys)
  sent = weights > 0
  return (updates, jnp.where(sent, prepared, 0.).astype(jnp.float32),
          {k: jnp.where(sent, v, 0.) for k, v in stats.items()})


def combine(aggregator: Aggregator, reports: Reduced, factor: jax.Array, state: PyTree,
            key: jax.Array) -> tuple[PyTree, PyTree, dict[str, jax.Array]]:
  """`(aggregate, state, metrics)` of the stacked prepared `reports`, the
  update of report i discounted by `factor[i]`: a sum-based aggregator gets
  `sum_i w_i f_i u_i` over `sum_i w_i`, an order statistic the discounted
  updates `f_i u_i` with their weights."""
  if aggregator.stacked:
    scale = lambda u: u * factor.reshape((-1,) + (1,) * (u.ndim - 1)).astype(u.dtype)
    reduced = Reduced(jax.tree.map(scale, reports.updates), reports.weights, reports.stats)
  else:
    reduced = Reduced(
        jax.tree.map(lambda u: jnp.tensordot(reports.weights * factor, u, axes=1),
                     reports.updates),
        jnp.sum(reports.weights), jax.tree.map(lambda v: jnp.sum(v, axis=0), reports.stats))
  reduced, state, metrics = aggregator.combine(reduced, state, key)
  return finish(reduced), state, metrics
