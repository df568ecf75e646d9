"""The algorithm and its aggregator from a config."""

from __future__ import annotations

import ml_collections

from fedjax_sim.behaviour import fedbuff
from fedjax_sim.evaluation import personalization
from fedjax_sim.core import refusals
from fedjax_sim.aggregators import registry as aggregator_registry
from fedjax_sim.aggregators.settings import Settings as AggregatorSettings
from fedjax_sim.algorithms.common import Common
from fedjax_sim.algorithms.registry import algorithm_module
from fedjax_sim.config.sections import from_section
from fedjax_sim.core.aggregator import Aggregator
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.models.model import Model
from fedjax_sim.optimizers import OptimizerSettings


def clients_per_update(config: ml_collections.ConfigDict) -> int:
  """Clients aggregated per server update: `fedbuff.buffer_size` (K) under
  FedBuff, else `clients_per_round`. Algorithms (SCAFFOLD's and FedDyn's
  sampled fraction) and aggregators ('dp' and 'dp_noise': m, and the
  accountant's sampling rate m / N) are built with it."""
  return (from_section(config, 'fedbuff', fedbuff.Settings).buffer_size
          or config.clients_per_round)


def common(config: ml_collections.ConfigDict, model: Model, num_clients: int) -> Common:
  """The settings every algorithm shares: optimizers, weighting, client counts."""
  return Common(model, from_section(config, 'client.optimizer', OptimizerSettings),
                from_section(config, 'server.optimizer', OptimizerSettings),
                num_clients, clients_per_update(config),
                config.get('weighting', Common._field_defaults['weighting']))


def build_algorithm(config: ml_collections.ConfigDict, model: Model,
                    num_clients: int) -> FederatedAlgorithm:
  """The algorithm `config.algorithm` names, from its section `config.<name>`
  and the common settings (its aggregator is the default; see
  `build_aggregator`)."""
  module = algorithm_module(config.algorithm)
  settings = from_section(config, config.algorithm, module.Settings)
  if config.algorithm == 'ditto' and not personalization.check(from_section(
      config, 'personalization', personalization.Settings)).client_test_fraction:
    raise refusals.DITTO_HELD_OUT.error(0.)
  return module.from_settings(settings, common(config, model, num_clients))


def aggregator_settings(config: ml_collections.ConfigDict) -> AggregatorSettings:
  """The `aggregator` section, typed."""
  return from_section(config, 'aggregator', AggregatorSettings)


def build_aggregator(config: ml_collections.ConfigDict) -> Aggregator:
  """The aggregator `config.aggregator` describes (default: weighted mean)."""
  return aggregator_registry.build_aggregator(aggregator_settings(config),
                                              clients_per_update(config))


def is_private(config: ml_collections.ConfigDict) -> bool:
  """Whether the config aggregates with DP-FedAvg (`aggregator.name == 'dp'`)."""
  return aggregator_settings(config).name == 'dp'
