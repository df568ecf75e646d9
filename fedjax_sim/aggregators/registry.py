"""Aggregators by config name: every module of this package with a `from_config`.

A module `fedjax_sim/aggregators/<name>.py` defining
`from_config(config, num_clients) -> Aggregator` is selectable as
`--config.aggregator.name=<name>`; its options live in `config.aggregator`.
Names joined by '+' are a chain: `--config.aggregator.name=clip+median`.
"""

from __future__ import annotations

import importlib
import pkgutil

import ml_collections

from fedjax_sim import aggregators
from fedjax_sim.aggregators.chain import chain
from fedjax_sim.core.aggregator import Aggregator
from fedjax_sim.errors import ConfigError


def aggregator_names() -> list[str]:
  """Names of the aggregators selectable from a config."""
  return sorted(m.name for m in pkgutil.iter_modules(aggregators.__path__)
                if hasattr(importlib.import_module(f'{aggregators.__name__}.{m.name}'),
                           'from_config'))


def build_aggregator(config: ml_collections.ConfigDict, num_clients: int) -> Aggregator:
  """The aggregator `config.aggregator.name` names (default: weighted mean);
  names joined by '+' chain those aggregators (`fedjax_sim.aggregators.chain`)."""
  name = config.get('aggregator', {}).get('name', 'mean')
  stages = tuple(name.split('+')) if isinstance(name, str) else (name,)
  names = aggregator_names()
  for stage in stages:
    if stage not in names:
      raise ConfigError(f'aggregator.name must be one of {names}, or several joined by '
                        f"'+' (a chain, e.g. 'clip+median'), got {name!r}")
  if len(stages) > 1 and 'dp' in stages:
    raise ConfigError(f"aggregator.name={name!r}: 'dp' is DP-FedAvg whole (clip, noise, "
                      "divide by clients_per_round) and does not chain; chain clip and "
                      "dp_noise instead, e.g. 'clip+trimmed_mean+dp_noise'")
  built = [importlib.import_module(f'{aggregators.__name__}.{stage}').from_config(
      config, num_clients) for stage in stages]
  return built[0] if len(built) == 1 else chain(*built, names=stages)
