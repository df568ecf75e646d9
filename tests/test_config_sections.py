"""Config sections carry every field of their typed settings, so any choice
(aggregator, compression, algorithm, data source) is switched on from the
command line; the config layer imports nothing from the control room."""

import ast
import json
import os
import re
import subprocess
import sys

import pytest

from configs import default
from fedjax_sim.aggregators.settings import Settings as AggregatorSettings
from fedjax_sim.config.data import data_settings
from fedjax_sim.config.overrides import apply_overrides
from fedjax_sim.config.schema import section_settings
from fedjax_sim.config.sections import from_section
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError
from fedjax_sim.optimizers import OptimizerSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'scripts', 'train.py')


@pytest.mark.parametrize('data', default.DATA)
def test_every_default_section_has_exactly_its_settings_fields(data):
  config = default.get_config(data)
  changed = {'server.optimizer': OptimizerSettings(learning_rate=1.)}
  if data == 'synthetic':  # default.use_synthetic
    changed.update({'client.optimizer': OptimizerSettings(learning_rate=0.01),
                    'data': DataSettings(name='synthetic', num_clients=30, alpha=1., beta=1.)})
  for key, settings in section_settings().items():
    section = config
    for part in key.split('.'):
      section = section[part]
    assert sorted(section.keys()) == sorted(settings._fields), key
    assert from_section(config, key, settings) == changed.get(key, settings()), key


def test_a_field_defaulting_to_none_is_settable():
  config = default.get_config()
  assert from_section(config, 'aggregator', AggregatorSettings).count_noise_multiplier is None
  typed = apply_overrides(config, {'aggregator.count_noise_multiplier': '2.5'})
  assert typed == {'aggregator.count_noise_multiplier': 2.5}
  assert from_section(config, 'aggregator', AggregatorSettings).count_noise_multiplier == 2.5


@pytest.mark.parametrize('overrides, message', [
    ({'aggregator.nope': '1'}, 'aggregator.nope: the config has no such field'),
    ({'rounds': 'ten'}, "rounds='ten': expected int"),
    ({'rounds': '0'}, 'rounds must be an integer in [1, 2147483647] (round numbers are '
     'int32 on the device), got 0'),
])
def test_bad_overrides_are_one_line_naming_the_field(overrides, message):
  with pytest.raises(ConfigError, match=re.escape(message)):
    apply_overrides(default.get_config(), overrides)


def test_data_section_is_typed_and_refuses_unknown_keys():
  config = default.get_config()
  config.data.features = ('a', 'b')
  assert data_settings(config) == DataSettings(features=('a', 'b'))
  config.data = {'name': 'csv', 'path': 'x.csv', 'colour': 'red'}
  with pytest.raises(ConfigError, match=r'data.colour is not a setting of data'):
    data_settings(config)


def imports(path):
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      yield node.module
    elif isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)


def test_the_config_layer_imports_nothing_from_the_control_room():
  folder = os.path.join(ROOT, 'fedjax_sim', 'config')
  found = [(name, module) for name in sorted(os.listdir(folder)) if name.endswith('.py')
           for module in imports(os.path.join(folder, name))
           if module.startswith('fedjax_sim.control')]
  assert found == []


def train(*flags):
  return subprocess.run([sys.executable, TRAIN, '--config.rounds=2', '--config.eval_every=2',
                         '--progress=lines', *flags],
                        capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_choices_and_their_options_from_the_command_line():
  """An algorithm, an aggregator and a compressor switched on from the
  default config, each with an option of its own section, in one run."""
  flags = ('--config.algorithm=fedprox', '--config.fedprox.mu=0.1',
           '--config.aggregator.name=dp', '--config.aggregator.clip=0.5',
           '--config.compression.name=topk', '--config.compression.fraction=0.2')
  printed = json.loads(train(*flags, '--print_config').stdout)
  assert printed['algorithm'] == 'fedprox' and printed['fedprox'] == {'mu': 0.1}
  result = train(*flags)
  assert result.returncode == 0, result.stderr
  assert re.search(r'round +2 +test_accuracy', result.stdout)
  assert 'clip_norm 0.5 ' in result.stdout and 'epsilon' in result.stdout
  # 10 clients upload a fifth of the MLP's 15010 parameters as (index, value) pairs.
  params = 64 * 200 + 200 + 200 * 10 + 10
  uploaded = float(re.search(r'upload_bytes (\S+)', result.stdout).group(1))
  assert uploaded == pytest.approx(10 * int(0.2 * params) * 8, rel=1e-3)
