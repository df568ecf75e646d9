"""Typed settings from a config section: the one place where a section of
the ConfigDict becomes a NamedTuple whose fields carry the defaults, and the
checks of their values."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence, TypeVar

import ml_collections

from fedjax_sim.errors import ConfigError

S = TypeVar('S', bound=NamedTuple)

# (field, accepted, what is expected)
Rule = tuple[str, Callable[[Any], bool], str]


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def check(section: str, settings: NamedTuple, rules: Sequence[Rule]) -> None:
  """A ConfigError `<section>.<field> must be <expected>, got <value>` for
  the first field of `settings` its rule does not accept."""
  for field, accepted, expected in rules:
    value = getattr(settings, field)
    if not accepted(value):
      raise ConfigError(f'{section}.{field} must be {expected}, got {value!r}')


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
