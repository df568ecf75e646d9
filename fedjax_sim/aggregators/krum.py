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

from fedjax_sim.core import refusals
from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator, Reduced, as_aggregate, keep, no_state
from fedjax_sim.errors import ConfigError
from fedjax_sim.core.rules import check, is_int

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


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  """`settings.num_byzantine` f and `num_selected` m, checked against
  `clients_per_round` n: n > 2f + 2, m <= n."""
  f, m, n = settings.num_byzantine, settings.num_selected, clients_per_round
  check('aggregator', settings, [
      ('num_byzantine', lambda v: is_int(v) and v >= 0, 'an integer >= 0'),
      ('num_selected', lambda v: is_int(v) and v >= 1, 'an integer >= 1')])
  if n <= 2 * f + 2:
    raise refusals.KRUM_CLIENTS.error(f, f' (with {n} clients per update)')
  if m > n:
    raise ConfigError(f'aggregator.num_selected={m} exceeds clients_per_round={n}')
  return krum(f, m)
