"""Bad input fails with one clear error naming the field, data set or client."""

import importlib

import numpy as np
import pytest

from configs import default
from fedjax_sim.data import from_client_arrays
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.train import build_experiment


@pytest.mark.parametrize('field,value,message', [
    ('model.name', 'resnet9000', "model.name must be one of ["),
    ('data.name', 'imagenet', "data.name must be one of ['digits', 'synthetic'"),
    ('clients_per_round', 21, 'clients_per_round=21 exceeds data.num_clients=20'),
    ('client.batch_size', 0, 'client.batch_size must be an integer >= 1, got 0'),
    ('rounds', -1, 'rounds must be an integer >= 1'),
    ('engine.strategy', 'pmap', "engine.strategy must be one of ('auto', 'vmap', 'chunked', 'sequential')"),
    ('engine.chunk_size', 0, 'engine.chunk_size must be an integer >= 1'),
    ('client.optimizer.name', 'lion', "client.optimizer.name must be one of"),
    ('server.optimizer.learning_rate', 0., 'server.optimizer.learning_rate must be > 0'),
    ('data.partition', 'zipf', "data.partition must be one of ['iid', 'dirichlet', "
     "'shards', 'powerlaw'], got 'zipf'"),
    ('data.alpha', 0., 'data.alpha must be > 0'),
    ('algorithm', 'fedsgd9', "algorithm must be one of ["),
    ('client.steps', -2, 'client.steps must be >= 0'),
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
