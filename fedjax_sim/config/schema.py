"""Which typed settings each config section holds: config files build
their sections from the settings' defaults (`defaults`), the config layer
reads them back typed (`sections.from_section`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import ml_collections

from fedjax_sim import compression, privacy
from fedjax_sim.behaviour import attacks
from fedjax_sim.behaviour import availability
from fedjax_sim.behaviour import dropouts
from fedjax_sim.evaluation import personalization
from fedjax_sim.behaviour import stragglers
from fedjax_sim.behaviour import system_profiles
from fedjax_sim.behaviour import clock as virtual_clock
from fedjax_sim.aggregators.settings import Settings as AggregatorSettings
from fedjax_sim.algorithms.registry import algorithm_module, algorithm_names
from fedjax_sim.config.sections import section
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.behaviour.fedbuff.settings import Settings as FedBuffSettings
from fedjax_sim.optimizers import OptimizerSettings
from fedjax_sim.run.divergence import DivergenceSettings


class CheckpointSettings(NamedTuple):
  """`config.checkpoint`: with --workdir, a checkpoint every `every` rounds
  (0: only after the last round), the last `keep` kept."""

  every: int = 0
  keep: int = 3


class EngineSettings(NamedTuple):
  """`config.engine`: the round's layout `strategy` ('auto', 'vmap',
  'chunked', 'sequential', 'lanes') with `chunk_size` clients per chunk or
  lanes; `shard_clients` splits the sampled clients over every device (always
  on with several processes); `population` is where client data and states
  live ('auto', 'device', 'host', 'disk'; `fedjax_sim.core.placement`)."""

  strategy: str = 'auto'
  chunk_size: int = 8
  shard_clients: bool = False
  population: str = 'auto'


# Section (dotted) -> its settings; algorithms' own sections: `algorithm_sections`.
SECTIONS: dict[str, type] = {
    'data': DataSettings,
    'client.optimizer': OptimizerSettings,
    'server.optimizer': OptimizerSettings,
    'aggregator': AggregatorSettings,
    'attack': attacks.Settings,
    'compression': compression.Settings,
    'personalization': personalization.Settings,
    'privacy': privacy.Settings,
    'stragglers': stragglers.Settings,
    'dropout': dropouts.Settings,
    'system': system_profiles.Settings,
    'availability': availability.Settings,
    'clock': virtual_clock.Settings,
    'fedbuff': FedBuffSettings,
    'checkpoint': CheckpointSettings,
    'engine': EngineSettings,
    'divergence': DivergenceSettings,
}


def defaults(key: str, /, **changes: Any) -> ml_collections.ConfigDict:
  """The section `key` (of `SECTIONS`) at its settings' defaults, with `changes`."""
  return section(SECTIONS[key], **changes)


def algorithm_settings() -> dict[str, type]:
  """Each algorithm's name and its settings (its section is `config.<name>`)."""
  return {name: algorithm_module(name).Settings for name in algorithm_names()}


def section_settings() -> dict[str, type]:
  """Every typed section (dotted name) and its settings."""
  return {**SECTIONS, **algorithm_settings()}


def algorithm_sections() -> dict[str, ml_collections.ConfigDict]:
  """Each algorithm's section at its defaults, by name."""
  return {name: section(settings) for name, settings in algorithm_settings().items()}
