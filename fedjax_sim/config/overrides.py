"""Overrides of a config's fields (`--config.<field>=<value>` as values):
applied with the config's own types, then checked (`checks.check_config`)."""

from __future__ import annotations

from typing import Any

import ml_collections

from fedjax_sim.config.checks import check_config
from fedjax_sim.errors import ConfigError

Config = ml_collections.ConfigDict  # for callers past the config layer, which pass it on
MISSING = object()  # what `get_field` returns for a field the config does not have


def get_field(config: ml_collections.ConfigDict, field: str) -> Any:
  """The value of dotted `field` in `config`, or `MISSING`."""
  node = config
  for part in field.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return MISSING
    node = node[part]
  return node


def field_values(config: ml_collections.ConfigDict, fields: tuple[str, ...]) -> dict[str, Any]:
  """The values of those dotted `fields` that `config` has (tuples as lists)."""
  values = {field: get_field(config, field) for field in fields}
  return {field: list(value) if isinstance(value, tuple) else value
          for field, value in values.items() if value is not MISSING}


def coerce(field: str, kind: type, value: Any) -> Any:
  """`value` (str, number or list of str) as the field's type `kind`; a
  ConfigError names the field otherwise."""
  try:
    if issubclass(kind, bool):
      if value in ('true', 'false', True, False):
        return value in ('true', True)
    elif issubclass(kind, int):
      number = float(value)
      if not isinstance(value, bool) and number == int(number):
        return int(number)
    elif issubclass(kind, float):
      if not isinstance(value, bool):
        return float(value)
    elif issubclass(kind, str):
      if isinstance(value, str):
        return value
    elif issubclass(kind, tuple):
      if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
  except (TypeError, ValueError, OverflowError):
    pass
  raise ConfigError(f'{field}={value!r}: expected {kind.__name__}')


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, Any]
                    ) -> dict[str, Any]:
  """Sets each dotted field of `overrides` in `config` (in place) with the
  config's own type, checks the result, and returns the overrides so typed."""
  typed = {}
  for field, value in overrides.items():
    if get_field(config, field) is MISSING:
      raise ConfigError(f'{field}: the config has no such field')
    parent, _, leaf = field.rpartition('.')
    node = get_field(config, parent) if parent else config
    typed[field] = node[leaf] = coerce(field, node.get_type(leaf), value)
  check_config(config)
  return typed


def flag_value(value: Any) -> str:
  """`value` as `ml_collections.config_flags` parses it back."""
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  return str(value) if isinstance(value, str) else repr(value)
