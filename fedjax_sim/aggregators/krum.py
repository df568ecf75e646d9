"""Krum and Multi-Krum (Blanchard et al. 2017).

Each present client's score is the sum of squared Euclidean distances (over
the whole flattened update) to its `n - f - 2` nearest other present updates,
`n` present clients, `f = aggregator.num_byzantine`; the aggregate is the plain
mean of the `m = aggregator.num_selected` lowest-score updates (`m = 1`: Krum).
Ties go to the earlier sampled client.

Example weights are ignored; clients with weight 0 (empty clients) are absent:
they are nobody's neighbour and cannot be selected, so `n` counts only present
clients. If empty clients leave `n <= f + 2`, each score uses one neighbour
(none if `n = 1`), and at most `n` updates are selected. The build checks
`clients_per_round > 2f + 2`, Krum's requirement.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from fedjax_sim.core.aggregator import Aggregator, Reduced, as_aggregate, keep, no_state
from fedjax_sim.errors import ConfigError

PyTree = Any


def squared_distances(updates: PyTree) -> jax.Array:
  """`[clients, clients]` squared distances between the flattened updates.

  Computed one row at a time (`lax.map`), so memory stays at one stacked update.
  """
  leaves = jax.tree.leaves(updates)

  def row(i):
    return sum(jnp.sum(jnp.square(leaf - leaf[i]).reshape(leaf.shape[0], -1), axis=1)
               for leaf in leaves)

  return jax.lax.map(row, jnp.arange(leaves[0].shape[0]))


def krum_scores(dists: jax.Array, is_present: jax.Array,
                num_byzantine: int) -> jax.Array:
  """Each client's Krum score; `+inf` for absent clients."""
  n = jnp.sum(is_present)
  neighbours = jnp.minimum(jnp.maximum(n - num_byzantine - 2, 1), n - 1)
  others = is_present[None, :] & ~jnp.eye(dists.shape[0], dtype=bool)
  nearest = jnp.sort(jnp.where(others, dists, jnp.inf), axis=1)
  closest = jnp.arange(dists.shape[0])[None, :] < neighbours
  scores = jnp.sum(jnp.where(closest, nearest, 0.), axis=1)
  return jnp.where(is_present, scores, jnp.inf)


def krum(num_byzantine: int, num_selected: int = 1) -> Aggregator:
  """(Multi-)Krum; metrics `aggregated_clients` (n), `krum_selected`,
  `krum_min_score`."""

  def combine(reduced: Reduced, state, key):
    del key
    is_present = reduced.weights > 0
    count = jnp.sum(is_present).astype(jnp.int32)
    scores = krum_scores(squared_distances(reduced.updates), is_present,
                         num_byzantine)
    selected = jnp.minimum(num_selected, count)
    rank = jnp.argsort(jnp.argsort(scores, stable=True), stable=True)
    chosen = (rank < selected).astype(jnp.float32)
    denom = jnp.maximum(selected, 1).astype(jnp.float32)
    aggregate = jax.tree.map(
        lambda u: jnp.tensordot(chosen, u, axes=1) / denom, reduced.updates)
    metrics = {'aggregated_clients': count, 'krum_selected': selected,
               'krum_min_score': jnp.where(count > 0, jnp.min(scores), 0.)}
    return as_aggregate(aggregate, reduced.stats), state, metrics

  return Aggregator(no_state, keep, combine, stacked=True)


def _int_option(config: ml_collections.ConfigDict, name: str, default: int,
                minimum: int) -> int:
  value = config.aggregator.get(name, default)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(f'aggregator.{name} must be an integer >= {minimum}, '
                      f'got {value!r}')
  return value


def from_config(config: ml_collections.ConfigDict, num_clients: int) -> Aggregator:
  """`aggregator.num_byzantine` f (default 1) and `aggregator.num_selected` m
  (default 1), checked against `clients_per_round` n: n > 2f + 2, m <= n."""
  del num_clients
  f = _int_option(config, 'num_byzantine', 1, 0)
  m = _int_option(config, 'num_selected', 1, 1)
  n = config.clients_per_round
  if n <= 2 * f + 2:
    raise ConfigError(f'aggregator.num_byzantine={f} needs clients_per_round > '
                      f'2 * num_byzantine + 2 = {2 * f + 2}, got {n}')
  if m > n:
    raise ConfigError(f'aggregator.num_selected={m} exceeds clients_per_round={n}')
  return krum(f, m)
