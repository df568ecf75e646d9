"""A config section as a typed NamedTuple."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, TypeVar

import ml_collections
from ml_collections import config_dict

from fedjax_sim.errors import ConfigError

S = TypeVar('S')


def as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON data (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def from_json(data: dict[str, Any]) -> ml_collections.ConfigDict:
  """A config from JSON data (a run's `config.json`)."""
  return ml_collections.ConfigDict(data)


def section(settings: type, /, **changes: Any) -> ml_collections.ConfigDict:
  """A config section holding every field of the NamedTuple `settings` at its
  default (the one place defaults are written), with `changes`. A field whose
  value is None becomes a placeholder of its type, so the command line can
  set it."""
  hints = typing.get_type_hints(settings)
  return ml_collections.ConfigDict({
      field: config_dict.placeholder(_not_none(hints[field])) if value is None else value
      for field, value in settings(**changes)._asdict().items()})


def _not_none(hint: Any) -> type:
  """`float` of `float | None`."""
  if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
    return next(arg for arg in typing.get_args(hint) if arg is not type(None))
  return hint


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
