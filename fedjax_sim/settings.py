"""Typed settings from a config section: the one place where a section of
the ConfigDict becomes a NamedTuple whose fields carry the defaults."""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import ml_collections

from fedjax_sim.errors import ConfigError

S = TypeVar('S', bound=NamedTuple)


def from_section(config: ml_collections.ConfigDict, name: str, cls: type[S]) -> S:
  """`cls` from the section `config.<name>` (its defaults where the section
  is absent); a key that `cls` does not have is a ConfigError naming it."""
  section = config.get(name, None)
  if section is None:
    return cls()
  values = dict(section.items())
  unknown = sorted(set(values) - set(cls._fields))
  if unknown:
    raise ConfigError(f'{name}.{unknown[0]} is not a setting of {name} '
                      f'(its settings: {", ".join(cls._fields)})')
  return cls(**values)
