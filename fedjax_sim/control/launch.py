"""From the control room's form to a training-script command line (the
form's side of the config layer: it edits a config file's ConfigDict as the
command line's overrides do).

The form names a config file of the configs directory and a few fields to
change (`FIELDS`). They are applied to the config the file returns, with
the config's own types, and checked like the command line's overrides
(`fedjax_sim.config.checks`); the run then starts as
`python <train script> --config=<file> --workdir=<run> --config.<field>=<value> ...`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import ml_collections

from fedjax_sim.config.checks import check_config
from fedjax_sim.config.files import config_docs
from fedjax_sim.control.jobs import Job
from fedjax_sim.control.safety import Refused, check_name
from fedjax_sim.errors import ConfigError

# The fields the form may set (dotted), in the order the form shows them.
FIELDS = ('algorithm', 'model.name', 'data.name', 'rounds', 'clients_per_round',
          'eval_every', 'client.optimizer.learning_rate', 'server.optimizer.learning_rate',
          'seed', 'data.label', 'data.features', 'data.client_column',
          'data.partition', 'data.num_clients', 'data.alpha')


def config_catalog(configs_dir: str) -> list[dict[str, str]]:
  """Each config file's `name` and `doc` (its docstring), read without importing."""
  return [{'name': name, 'doc': doc} for name, doc in config_docs(configs_dir)]


def load_config(configs_dir: str, name: str) -> ml_collections.ConfigDict:
  """`get_config()` of config file `name` (a plain file name in `configs_dir`);
  config files import their siblings as `configs.<module>`."""
  names = {c['name'] for c in config_catalog(configs_dir)}
  if name not in names:
    raise Refused(f'config={name!r}: expected one of {sorted(names)}')
  parent = os.path.dirname(os.path.abspath(configs_dir))
  if parent not in sys.path:
    sys.path.insert(0, parent)
  spec = importlib.util.spec_from_file_location(f'_control_config_{name[:-3]}',
                                                os.path.join(configs_dir, name))
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    return module.get_config()
  except Exception as e:  # a config file's own error, as one line
    raise Refused(f'config={name!r} cannot be loaded: {type(e).__name__}: {e}') from None


def form_fields(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The form's fields that `config` has, with its values."""
  flat = {}
  for field in FIELDS:
    value = _get(config, field)
    if value is not _MISSING:
      flat[field] = list(value) if isinstance(value, tuple) else value
  return flat


_MISSING = object()


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  node = config
  for part in field.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return _MISSING
    node = node[part]
  return node


def _coerce(field: str, old: Any, value: Any) -> Any:
  """`value` (a form entry: str, number or list of str) as the type of the
  config's current value `old`."""
  try:
    if isinstance(old, bool):
      if value in ('true', 'false', True, False):
        return value in ('true', True)
    elif isinstance(old, int):
      number = float(value)
      if not isinstance(value, bool) and number == int(number):
        return int(number)
    elif isinstance(old, float):
      if not isinstance(value, bool):
        return float(value)
    elif isinstance(old, str):
      if isinstance(value, str):
        return value
    elif isinstance(old, tuple):
      if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
  except (TypeError, ValueError, OverflowError):
    pass
  raise Refused(f'{field}={value!r}: expected {type(old).__name__}')


def resolve(configs_dir: str, name: str, overrides: dict[str, Any]
            ) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
  """The config file `name` with `overrides` applied and checked, and the
  overrides in the config's own types."""
  config = load_config(configs_dir, name)
  typed = {}
  for field, value in overrides.items():
    if field not in FIELDS:
      raise Refused(f'{field}: the form sets only {", ".join(FIELDS)}')
    old = _get(config, field)
    if old is _MISSING:
      raise Refused(f'{field}: config {name!r} has no such field')
    typed[field] = _coerce(field, old, value)
    parent, _, leaf = field.rpartition('.')
    node = _get(config, parent) if parent else config
    node[leaf] = typed[field]
  try:
    check_config(config)
  except ConfigError as e:
    raise Refused(str(e)) from None
  return config, typed


def flag_value(value: Any) -> str:
  """`value` as `ml_collections.config_flags` parses it back."""
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  return str(value) if isinstance(value, str) else repr(value)


def command(job: Job, python: str, train_script: str, configs_dir: str,
            runs_dir: str) -> list[str]:
  """The training script's argv for `job`."""
  argv = [python, train_script, f'--config={os.path.join(configs_dir, job.config_file)}',
          f'--workdir={os.path.join(runs_dir, check_name("name", job.name))}',
          '--progress=lines']
  argv += [f'--config.{k}={flag_value(v)}' for k, v in job.overrides.items()]
  return argv + (['--resume'] if job.resume else [])
