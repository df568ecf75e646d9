"""The experiment config files of a `configs/` directory."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys

import ml_collections

from fedjax_sim.errors import ConfigError


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
  spec = importlib.util.spec_from_file_location(f'_config_file_{name[:-3]}',
                                                os.path.join(directory, name))
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    return module.get_config()
  except Exception as e:  # a config file's own error, as one line
    raise ConfigError(f'config={name!r} cannot be loaded: {type(e).__name__}: {e}') from None
