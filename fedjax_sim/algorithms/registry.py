"""Algorithms by name: every module of this package with a `from_settings`.

A module `fedjax_sim/algorithms/<name>.py` defining `Settings` (a NamedTuple
of its own options, `NoSettings` if none) and
`from_settings(settings, common) -> FederatedAlgorithm` is selectable as
`--config.algorithm=<name>`; its settings are the section `config.<name>`
(`fedjax_sim.config.algorithms`).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from fedjax_sim import algorithms
from fedjax_sim.errors import ConfigError


def algorithm_names() -> list[str]:
  """Names of the selectable algorithms."""
  return sorted(m.name for m in pkgutil.iter_modules(algorithms.__path__)
                if hasattr(importlib.import_module(f'{algorithms.__name__}.{m.name}'),
                           'from_settings'))


def algorithm_module(name: str) -> ModuleType:
  """The module of algorithm `name`; a ConfigError lists the names."""
  names = algorithm_names()
  if name not in names:
    raise ConfigError(f'algorithm must be one of {names}, got {name!r}')
  return importlib.import_module(f'{algorithms.__name__}.{name}')
