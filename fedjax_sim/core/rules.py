"""Checks of typed settings (NamedTuples whose fields carry the defaults;
`fedjax_sim.config.sections` makes them from a config)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax

from fedjax_sim.errors import ConfigError

# (field, accepted, what is expected)
Rule = tuple[str, Callable[[Any], bool], str]


def is_traced(value: Any) -> bool:
  """Whether `value` is a traced array (a sweep's values, vmapped over its
  members, or a hyper-parameter being differentiated). Rules check concrete
  values: a sweep checks each member's concrete config before tracing."""
  return isinstance(value, jax.core.Tracer)


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def check(section: str, settings: NamedTuple, rules: Sequence[Rule]) -> None:
  """A ConfigError `<section>.<field> must be <expected>, got <value>` for
  the first field of `settings` its rule does not accept (traced values are
  not checked: `is_traced`)."""
  for field, accepted, expected in rules:
    value = getattr(settings, field)
    if not is_traced(value) and not accepted(value):
      raise ConfigError(f'{section}.{field} must be {expected}, got {value!r}')
