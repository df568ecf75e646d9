"""The default aggregation: the weighted mean of the client updates."""

from __future__ import annotations

import ml_collections

from fedjax_sim.core.aggregator import Aggregator, weighted_mean


def from_config(config: ml_collections.ConfigDict, num_clients: int) -> Aggregator:
  del config, num_clients
  return weighted_mean()
