"""The default aggregation: the weighted mean of the client updates."""

from __future__ import annotations

from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator, weighted_mean


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  del settings, clients_per_round
  return weighted_mean()
