"""The experiment config files of a `configs/` directory."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from typing import Any

import ml_collections
from absl import flags
from ml_collections import config_flags

from fedjax_sim.config.sections import from_json
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir import runlog


def config_docs(directory: str) -> list[tuple[str, str]]:
  """`(file name, docstring)` of each config file in `directory`, sorted, read
  without importing it."""
  out = []
  for name in sorted(os.listdir(directory)):
    if name.endswith('.py') and not name.startswith('_'):
      with open(os.path.join(directory, name)) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ''
      out.append((name, doc.strip()))
  return out


# Fields every experiment reads (a section's other fields have defaults).
REQUIRED = ('seed', 'algorithm', 'rounds', 'clients_per_round', 'eval_every', 'data',
            'model', 'model.name', 'client', 'client.batch_size', 'client.epochs',
            'client.steps', 'checkpoint', 'checkpoint.every', 'checkpoint.keep')


def _missing(config: ml_collections.ConfigDict) -> list[str]:
  """The fields of `REQUIRED` that `config` lacks (sections before their fields)."""
  missing = []
  for field in REQUIRED:
    node: Any = config
    for part in field.split('.'):
      node = node[part] if isinstance(node, ml_collections.ConfigDict) and part in node else None
    if node is None:
      missing.append(field)
  return missing


def run_config(path: str) -> dict[str, Any] | None:
  """A run's `config.json` at `path` as JSON data, checked to be an
  experiment (an object with every field of `REQUIRED`), or None when there
  is no such file. Invalid JSON, another kind of value or a missing field is
  one DataError naming the file (it was edited by hand)."""
  data = runlog.read_json(path)
  if data is None:
    return None
  if not isinstance(data, dict):
    raise DataError(f"{path} holds {runlog.kind(data)}, expected an object (the run's "
                    'config); fix or remove it')
  missing = _missing(from_json(data))
  if missing:
    raise DataError(f'{path} has no {missing[0]!r}, which every experiment needs (as '
                    'configs/default.py has it); fix or remove it')
  return data


def _text(error: BaseException) -> str:
  """An error's message, its lines joined by '; '."""
  return '; '.join(line.strip() for line in str(error).splitlines() if line.strip())


def _one_line(error: BaseException) -> str:
  """`Type: message` of an error, on one line."""
  text = _text(error)
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _experiment(path: str, args: list[str]) -> ml_collections.ConfigDict:
  """`load_experiment` whose errors do not name the file."""
  spec = importlib.util.spec_from_file_location(
      '_config_file_' + os.path.splitext(os.path.basename(path))[0], path)
  if spec is None or spec.loader is None:
    raise ConfigError('not a Python file')
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except Exception as e:  # the file's own error (syntax, import), as one line
    raise ConfigError(f'cannot be loaded: {_one_line(e)}') from None
  if not callable(getattr(module, 'get_config', None)):
    raise ConfigError('the file has no get_config() function')
  try:
    config = module.get_config(*args)
  except ValueError as e:  # a bad config argument: its own message
    raise ConfigError(_text(e) or 'ValueError') from None
  except Exception as e:  # the file's own error, as one line
    raise ConfigError(f'get_config() raised {_one_line(e)}') from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError('get_config() must return an ml_collections.ConfigDict, '
                      f'got {type(config).__name__}')
  missing = _missing(config)
  if missing:
    raise ConfigError(f'the config has no {missing[0]!r}, which every experiment needs '
                      '(as configs/default.py has it)')
  return config


def load_experiment(path: str, *args: str) -> ml_collections.ConfigDict:
  """`get_config(*args)` of the config file at `path`, checked to be an
  experiment: a ConfigDict with every field of `REQUIRED`. Whatever goes
  wrong (the file fails to import, has no get_config, get_config raises or
  returns something else) is one ConfigError naming the file; a ValueError
  of get_config (a bad config argument) keeps its own message."""
  if not os.path.isfile(path):
    raise ConfigError(f'{path}: no such file')
  try:
    return _experiment(path, list(args))
  except ConfigError as e:
    raise ConfigError(f'{path}: {e}') from None


class ConfigFileParser(flags.ArgumentParser):
  """Parses `--config=FILE[:ARG]` as `load_experiment` does (a bad file is a
  ValueError, which absl reports as a bad value of the flag, naming it) and
  locks the config."""

  def parse(self, argument: str) -> ml_collections.ConfigDict:
    path, *args = argument.split(':', 1)
    if not os.path.isfile(path):
      raise ValueError(f'--config file {path!r} does not exist')
    try:
      config = _experiment(path, args)
    except ConfigError as e:
      raise ValueError(str(e)) from None
    config.lock()
    return config


def define_config_file(name: str, help_string: str) -> flags.FlagHolder:
  """`config_flags.DEFINE_config_file(name)` (overrides `--name.<field>=value`)
  whose file is loaded by `ConfigFileParser`."""
  holder = config_flags.DEFINE_config_file(name, None, help_string, lock_config=True)
  flags.FLAGS[name].parser = ConfigFileParser()
  return holder


def load_config_file(directory: str, name: str) -> ml_collections.ConfigDict:
  """`get_config()` of config file `name` (a plain file name in `directory`);
  config files import their siblings as `configs.<module>`. A name not in
  `directory`, or a file that fails, is a ConfigError."""
  names = [n for n, _ in config_docs(directory)]
  if name not in names:
    raise ConfigError(f'config={name!r}: expected one of {names}')
  parent = os.path.dirname(os.path.abspath(directory))
  if parent not in sys.path:
    sys.path.insert(0, parent)
  return load_experiment(os.path.join(directory, name))
