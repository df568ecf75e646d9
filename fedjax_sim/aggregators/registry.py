"""Aggregators by name: every module of this package with a `from_settings`.

A module `fedjax_sim/aggregators/<name>.py` defining
`from_settings(settings, clients_per_round) -> Aggregator` is selectable as
`--config.aggregator.name=<name>`; its options are fields of the `aggregator`
settings (`fedjax_sim.aggregators.settings`). Names joined by '+' are a
chain: `--config.aggregator.name=clip+median`.
"""

from __future__ import annotations

import importlib
import pkgutil

from fedjax_sim import aggregators
from fedjax_sim.core import refusals
from fedjax_sim.aggregators.chain import chain
from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator
from fedjax_sim.errors import ConfigError


def aggregator_names() -> list[str]:
  """Names of the selectable aggregators."""
  return sorted(m.name for m in pkgutil.iter_modules(aggregators.__path__)
                if hasattr(importlib.import_module(f'{aggregators.__name__}.{m.name}'),
                           'from_settings'))


def build_aggregator(settings: Settings, clients_per_round: int) -> Aggregator:
  """The aggregator `settings.name` names; names joined by '+' chain those
  aggregators (`fedjax_sim.aggregators.chain`)."""
  name = settings.name
  stages = tuple(name.split('+')) if isinstance(name, str) else (name,)
  names = aggregator_names()
  for stage in stages:
    if stage not in names:
      raise ConfigError(f'aggregator.name must be one of {names}, or several joined by '
                        f"'+' (a chain, e.g. 'clip+median'), got {name!r}")
  if len(stages) > 1 and 'dp' in stages:
    raise refusals.DP_CHAIN.error(name)
  built = [importlib.import_module(f'{aggregators.__name__}.{stage}').from_settings(
      settings, clients_per_round) for stage in stages]
  return built[0] if len(built) == 1 else chain(*built, names=stages)
