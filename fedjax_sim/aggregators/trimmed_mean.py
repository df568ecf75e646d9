"""Coordinate-wise trimmed mean of the client updates (Yin et al. 2018).

For each coordinate, the `floor(beta * k)` largest and smallest values of the
`k` present clients are dropped and the rest averaged, `beta =
aggregator.trim_fraction` in `[0, 0.5)`. Example weights are ignored; clients
with weight 0 (empty clients) are absent and do not count in `k` (see
`order_statistics`).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.aggregators.order_statistics import middle_mean, num_present
from fedjax_sim.core.aggregator import Aggregator, Reduced, as_aggregate, keep, no_state
from fedjax_sim.errors import ConfigError

def trimmed_mean(trim_fraction: float) -> Aggregator:
  """The trimmed mean; metrics `aggregated_clients` (k), `trimmed_per_side`."""
  if isinstance(trim_fraction, bool) or not (
      isinstance(trim_fraction, (int, float)) and 0. <= trim_fraction < 0.5):
    raise ConfigError('aggregator.trim_fraction must be in [0, 0.5), '
                      f'got {trim_fraction!r}')

  def combine(reduced: Reduced, state, key):
    del key
    count = num_present(reduced.weights)
    # floor(beta * k) for every possible k, exactly as Python computes it.
    trims = [math.floor(trim_fraction * k) for k in range(reduced.weights.shape[0] + 1)]
    trim = jnp.asarray(trims, jnp.int32)[count]
    aggregate = middle_mean(reduced.updates, reduced.weights, trim)
    return as_aggregate(aggregate, reduced.stats), state, {'aggregated_clients': count, 'trimmed_per_side': trim}

  return Aggregator(no_state, keep, combine, stacked=True)


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  """`settings.trim_fraction`."""
  del clients_per_round
  return trimmed_mean(settings.trim_fraction)
