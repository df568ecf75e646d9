"""A config section as a typed NamedTuple."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import ml_collections

from fedjax_sim.errors import ConfigError

S = TypeVar('S')


def as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON data (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def from_json(data: dict[str, Any]) -> ml_collections.ConfigDict:
  """A config from JSON data (a run's `config.json`)."""
  return ml_collections.ConfigDict(data)


def from_section(config: ml_collections.ConfigDict, name: str, cls: type[S]) -> S:
  """`cls` from the section `config.<name>` (dots for nested sections, e.g.
  'client.optimizer'; its defaults where the section is absent); a key that
  `cls` does not have is a ConfigError naming it."""
  section = config
  for part in name.split('.'):
    section = section.get(part, None) if section is not None else None
  if section is None:
    return cls()
  values = dict(section.items())
  unknown = sorted(set(values) - set(cls._fields))
  if unknown:
    raise ConfigError(f'{name}.{unknown[0]} is not a setting of {name} '
                      f'(its settings: {", ".join(cls._fields)})')
  return cls(**values)
