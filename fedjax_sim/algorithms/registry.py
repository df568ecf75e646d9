"""Algorithms by config name: every module of this package with a `from_config`.

A module `fedjax_sim/algorithms/<name>.py` defining
`from_config(config, model, num_clients) -> FederatedAlgorithm` is selectable
as `--config.algorithm=<name>`; its hyper-parameters live in `config.<name>`.
"""

from __future__ import annotations

import importlib
import pkgutil

import ml_collections

from fedjax_sim import algorithms
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model


def algorithm_names() -> list[str]:
  """Names of the algorithms selectable from a config."""
  return sorted(m.name for m in pkgutil.iter_modules(algorithms.__path__)
                if hasattr(importlib.import_module(f'{algorithms.__name__}.{m.name}'),
                           'from_config'))


def build_algorithm(config: ml_collections.ConfigDict, model: Model,
                    num_clients: int) -> FederatedAlgorithm:
  """The algorithm `config.algorithm` names, built from the config."""
  names = algorithm_names()
  if config.algorithm not in names:
    raise ConfigError(f'algorithm must be one of {names}, got {config.algorithm!r}')
  module = importlib.import_module(f'{algorithms.__name__}.{config.algorithm}')
  return module.from_config(config, model, num_clients)
