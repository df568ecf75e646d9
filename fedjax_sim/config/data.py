"""The `data` section, typed, and the data set it describes."""

from __future__ import annotations

import ml_collections

from fedjax_sim.config.sections import from_section
from fedjax_sim.data.registry import Dataset, load_dataset
from fedjax_sim.data.settings import DataSettings


def data_settings(config: ml_collections.ConfigDict) -> DataSettings:
  """The `data` section, typed (a field it does not have is a ConfigError)."""
  settings = from_section(config, 'data', DataSettings)
  return settings._replace(features=tuple(settings.features))  # a run's JSON has lists


def load_data(config: ml_collections.ConfigDict) -> Dataset:
  """The data set of `config`'s `data` section, split with `data.seed` (or,
  when it is None, `config.seed`)."""
  settings = data_settings(config)
  return load_dataset(settings, config.seed if settings.seed is None else settings.seed)
