"""Coordinate-wise median of the client updates (Yin et al. 2018).

Example weights are ignored; clients with weight 0 (empty clients) are absent
(see `order_statistics`). With an even number `k` of present clients the
median is the mean of the two middle values; with none, the aggregate is zero.
"""

from __future__ import annotations

import jax.numpy as jnp

from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.aggregators.order_statistics import middle_mean, num_present
from fedjax_sim.core.aggregator import Aggregator, Reduced, as_aggregate, keep, no_state


def median() -> Aggregator:
  """The coordinate-wise median; metric `aggregated_clients` (present `k`)."""

  def combine(reduced: Reduced, state, key):
    del key
    count = num_present(reduced.weights)
    trim = jnp.maximum((count - 1) // 2, 0)
    aggregate = middle_mean(reduced.updates, reduced.weights, trim)
    return as_aggregate(aggregate, reduced.stats), state, {'aggregated_clients': count}

  return Aggregator(no_state, keep, combine, stacked=True)


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  del settings, clients_per_round
  return median()
