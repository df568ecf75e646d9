"""The config layer (`fedjax_sim/config/`) is the only library code that
reads ConfigDicts: typed sections fill defaults, refuse unknown keys, and
every selectable algorithm and aggregator is built from typed settings."""

import ast
import os

import ml_collections
import pytest

from configs import default
from fedjax_sim.aggregators.registry import aggregator_names
from fedjax_sim.algorithms.registry import algorithm_names
from fedjax_sim.config.algorithms import build_aggregator, build_algorithm
from fedjax_sim.config.sections import from_section
from fedjax_sim.errors import ConfigError
from fedjax_sim.optimizers import OptimizerSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_LAYER = ('fedjax_sim/config/',)


def imports(path):
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module


def test_only_the_config_layer_imports_ml_collections():
  readers = []
  for folder, _, files in os.walk(os.path.join(ROOT, 'fedjax_sim')):
    for name in files:
      path = os.path.relpath(os.path.join(folder, name), ROOT)
      if name.endswith('.py') and not path.startswith(CONFIG_LAYER) and any(
          module.split('.')[0] == 'ml_collections' for module in imports(path)):
        readers.append(path)
  assert readers == []


def test_sections_fill_defaults_and_refuse_unknown_keys():
  config = ml_collections.ConfigDict({'client': {'optimizer': {'name': 'adam',
                                                               'learning_rate': 0.01}}})
  assert from_section(config, 'client.optimizer', OptimizerSettings) == OptimizerSettings(
      name='adam', learning_rate=0.01)
  assert from_section(config, 'server.optimizer', OptimizerSettings) == OptimizerSettings()
  config.client.optimizer.lr = 0.1
  with pytest.raises(ConfigError, match=r'client.optimizer.lr is not a setting of '
                     r'client.optimizer \(its settings: name, learning_rate, momentum'):
    from_section(config, 'client.optimizer', OptimizerSettings)


@pytest.mark.parametrize('name', algorithm_names())
def test_every_algorithm_builds_from_typed_settings(name, tiny_mlp):
  config = default.get_config()
  config.algorithm = name
  config.personalization.client_test_fraction = 0.2  # ditto's requirement
  if name == 'qfedavg':
    config.client.optimizer.learning_rate = 0.2
  algorithm = build_algorithm(config, tiny_mlp, 20)
  assert callable(algorithm.client_update)


def test_unknown_algorithm_and_aggregator_settings_are_one_line_each(tiny_mlp):
  config = default.get_config()
  config.algorithm = 'fedprox'
  config.fedprox = ml_collections.ConfigDict({'mu': 0.1, 'nu': 1.})
  with pytest.raises(ConfigError, match=r"fedprox.nu is not a setting of fedprox"):
    build_algorithm(config, tiny_mlp, 20)
  config = default.get_config()
  config.aggregator.trim = 0.2
  with pytest.raises(ConfigError, match=r"aggregator.trim is not a setting of aggregator"):
    build_aggregator(config)
  assert {'mean', 'median', 'trimmed_mean', 'krum', 'dp', 'clip', 'dp_noise'} == set(
      aggregator_names())
