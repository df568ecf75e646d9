"""Bad input fails with one clear error naming the field, data set or client."""

import importlib
import re

import numpy as np
import pytest

from configs import default
from fedjax_sim.data import from_client_arrays
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.config.experiment import build_experiment


@pytest.mark.parametrize('field,value,message', [
    ('model.name', 'resnet9000', "model.name must be one of ["),
    ('data.name', 'imagenet', "data.name must be one of ['digits', 'synthetic'"),
    ('clients_per_round', 21, 'clients_per_round=21 exceeds data.num_clients=20'),
    ('client.batch_size', 0, 'client.batch_size must be an integer >= 1, got 0'),
    ('rounds', -1, 'rounds must be an integer in [1, 2147483647] (round numbers are int32 on '
     'the device), got -1'),
    ('engine.strategy', 'pmap', "engine.strategy must be one of ('auto', 'vmap', 'chunked', 'sequential', 'lanes')"),
    ('engine.chunk_size', 0, 'engine.chunk_size must be an integer >= 1'),
    ('client.optimizer.name', 'lion', "client.optimizer.name must be one of"),
    ('server.optimizer.learning_rate', 0., 'server.optimizer.learning_rate must be > 0'),
    ('data.partition', 'zipf', "data.partition must be one of ['iid', 'dirichlet', "
     "'shards', 'powerlaw'], got 'zipf'"),
    ('data.alpha', 0., 'data.alpha must be > 0'),
    ('algorithm', 'fedsgd9', "algorithm must be one of ["),
    ('client.steps', -2, 'client.steps must be an integer >= 0'),
    ('seed', -1, 'seed must be an integer in [0, 4294967295], got -1'),
    ('data.test_fraction', -0.1, 'data.test_fraction must be a number in (0, 1)'),
    ('data.test_fraction', 0., 'data.test_fraction must be a number in (0, 1)'),
    ('data.test_fraction', 1., 'data.test_fraction must be a number in (0, 1)'),
    ('checkpoint.every', -1, 'checkpoint.every must be an integer >= 0'),
    ('checkpoint.keep', 0, 'checkpoint.keep must be an integer >= 1, got 0'),
    ('client.optimizer.learning_rate', float('inf'),
     'client.optimizer.learning_rate must be a finite number, got inf'),
    ('server.optimizer.momentum', float('nan'),
     'server.optimizer.momentum must be a finite number, got nan'),
    ('client.optimizer.momentum', 1., 'client.optimizer.momentum must be a number in [0, 1)'),
    ('on_nonfinite', 'ignore', "on_nonfinite must be one of ['stop', 'drop'], got 'ignore'"),
    ('eval_clients', 0, 'eval_clients must be an integer >= 1, got 0'),
])
def test_bad_config_names_the_field(field, value, message):
  config = default.get_config()
  section, _, name = field.rpartition('.')
  target = config
  for part in filter(None, section.split('.')):
    target = target[part]
  target[name] = value
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)


def test_synthetic_client_size_limit_is_checked():
  config = default.get_config('synthetic')
  config.data.max_client_size = -5
  with pytest.raises(ConfigError, match=r'data.max_client_size must be an integer >= 0 '
                     r'\(0: no limit\), got -5'):
    build_experiment(config)


def test_clients_without_data_are_warned_about():
  config = default.get_config()
  config.data.num_clients = 5000
  warnings = []
  build_experiment(config, warn=warnings.append)
  assert len(warnings) == 1
  assert re.fullmatch(r'warning: (\d+) of 5000 clients have no training data \(1438 examples '
                      r'in all\); they are sampled but never train \(lower data.num_clients\?\)',
                      warnings[0])
  assert int(warnings[0].split()[1]) >= 5000 - 1438


def test_nan_in_data_names_the_data_set_and_client():
  x = np.zeros((4, 3), np.float32)
  x[2, 1] = np.nan
  clients = [{'x': np.zeros((2, 3), np.float32), 'y': np.zeros(2, np.int32)},
             {'x': x, 'y': np.zeros(4, np.int32)}]
  with pytest.raises(DataError, match=r"mine: examples\['x'\] of client 1 contains NaN"):
    from_client_arrays(clients, 'mine')


def test_mismatched_rows_name_the_client():
  clients = [{'x': np.zeros((2, 3), np.float32), 'y': np.zeros(3, np.int32)}]
  with pytest.raises(DataError, match="mine: client 0 has 3 rows of 'y' but 2 rows of 'x'"):
    from_client_arrays(clients, 'mine')


@pytest.mark.parametrize('bow_vocab_size,vocab_size,error,message', [
    (10, 9, ConfigError, 'model.options.vocab_size=9 must be >= data.bow_vocab_size=10 '),
    (None, 9999, ConfigError,
     'model.options.vocab_size=9999 must be >= data.bow_vocab_size=10000 '),
    # Fits: building goes on to load the data (none here).
    (10, 10, DataError, 'stackoverflow_train.sqlite: file not found'),
])
def test_tag_model_vocabulary_must_hold_the_bag_of_words_ids(tmp_path, bow_vocab_size,
                                                            vocab_size, error, message):
  config = importlib.import_module('configs.reddi_stackoverflow_lr').get_config(str(tmp_path))
  data = config.data.to_dict()
  if bow_vocab_size is None:  # the default
    del data['bow_vocab_size']
  else:
    data['bow_vocab_size'] = bow_vocab_size
  config.data = data
  config.model.options = dict(config.model.options.to_dict(), vocab_size=vocab_size)
  with pytest.raises(error, match=message):
    build_experiment(config)
