"""SQLite benchmark loaders, the memory-mapped client store and streamed rounds.

Tiny files in both layouts are written by the independent writers of
`sqlite_fixtures` (msgpack blobs for FedJAX's `federated_data` table;
hand-encoded `tf.train.Example` protos for TFF's tables). StackOverflow's
tag prediction task (bags of words) is in test_stackoverflow_tags.py.
"""

import os
import sqlite3

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core.round import build_round
from fedjax_sim.core.state import init_state
from fedjax_sim.data import benchmark_data
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.benchmark_features import SHAKESPEARE_CHARS
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import DataError
from fedjax_sim.models import get_model
from fedjax_sim.config.train import train
from sqlite_fixtures import emnist_clients, stackoverflow_client, write_fedjax, write_tff


def open_split(cfg: dict, split: str) -> tuple[benchmark_data.ClientStore, int]:
  """`benchmark_data.open_split` of a data section given as a dict."""
  return benchmark_data.open_split(DataSettings(**cfg), split)


def run_config(tmp_path, name, **data):
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = 1, 1, 2
  config.eval_clients = 2
  config.data = dict(name=name, path=str(tmp_path), **data)
  config.model.name = 'logistic'
  config.model.options = {}
  return config


def one_round(data: FederatedData, ids, num_classes):
  """One FedAvg round of logistic regression on flattened features, on the
  gathered rows only (`data_rows = arange(m)`): language sets predict the
  first target token (the sequence models belong to another module)."""
  data = FederatedData({'x': data.examples['x'].reshape(
      data.examples['x'].shape[:2] + (-1,)).astype(np.float32),
                        'y': data.examples['y'][:, :, 0]}, data.counts)
  config = default.get_config()
  model = get_model('logistic', num_classes)
  algorithm = build_algorithm(config, model, 10)
  round_fn = build_round(algorithm, plan_batches(data.max_examples, 2, 1, 0))
  state = init_state(algorithm, model.init(jax.random.PRNGKey(0),
                                           jnp.asarray(data.examples['x'][0, :1])), 10)
  _, metrics = round_fn(state, jax.device_put(data), jnp.asarray(ids, jnp.int32),
                        jax.random.PRNGKey(1), jnp.arange(len(ids)))
  return float(metrics['train_loss'])


# --- data sets ---------------------------------------------------------------

def test_emnist_store_gathers_padded_rows_and_trains(tmp_path):
  train_clients = emnist_clients((2, 5, 1), seed=0)
  write_fedjax(tmp_path / 'federated_emnist_train.sqlite', train_clients)
  write_fedjax(tmp_path / 'federated_emnist_test.sqlite', emnist_clients((3, 4), seed=1))
  cfg = {'name': 'emnist', 'path': str(tmp_path)}
  store, num_classes = open_split(cfg, 'train')
  assert num_classes == 62
  assert store.client_ids == ['f0000_00', 'f0001_00', 'f0002_00']
  np.testing.assert_array_equal(store.counts, [2, 5, 1])
  data = store.gather([2, 0])
  assert data.examples['x'].shape == (2, 5, 28, 28, 1)
  np.testing.assert_array_equal(data.counts, [1, 2])
  for row, cid in enumerate(['f0002_00', 'f0000_00']):
    ref = train_clients[cid]
    n = len(ref['label'])
    np.testing.assert_allclose(data.examples['x'][row, :n, :, :, 0], 1 - ref['pixels'])
    np.testing.assert_array_equal(data.examples['y'][row, :n], ref['label'])
    assert not data.examples['x'][row, n:].any()  # padding rows are zero
  assert not [d for d in os.listdir(tmp_path / 'fedjax_sim_cache') if d.startswith('.')]
  # A second open memory-maps the cache instead of converting again.
  again, _ = open_split(cfg, 'train')
  assert again.directory == store.directory
  assert isinstance(again.features['x'], np.memmap)
  history = train(run_config(tmp_path, 'emnist'), log=lambda line: None)
  assert np.isfinite(history[-1]['train_loss'])
  assert 0 <= history[-1]['test_accuracy'] <= 1


def test_cifar100_tff_layout_splits_and_trains(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  def client(n, label):
    return [{'image': rng.integers(0, 256, 3072), 'label': np.array([label]),
             'coarse_label': np.array([label // 5])} for _ in range(n)]
  splits = {'train': {'a': client(3, 99), 'b': client(1, 0), 'c': client(2, 42)},
            'test': {'a': client(2, 7), 'd': client(1, 8)}}
  write_tff(tmp_path / 'cifar100.sqlite', splits)
  cfg = {'name': 'cifar100', 'path': str(tmp_path)}
  store, num_classes = open_split(cfg, 'train')
  assert (num_classes, store.client_ids) == (100, ['a', 'b', 'c'])
  data = store.gather([0, 2])
  assert data.examples['x'].shape == (2, 3, 32, 32, 3)
  for row, cid in enumerate(['a', 'c']):  # pixels / 255, nothing else
    images = np.stack([e['image'] for e in splits['train'][cid]]).reshape(-1, 32, 32, 3)
    np.testing.assert_allclose(data.examples['x'][row, :len(images)], images / 255.,
                               rtol=1e-6)
  np.testing.assert_array_equal(data.examples['y'], [[99, 99, 99], [42, 42, 0]])
  test, _ = open_split(cfg, 'test')
  assert (test.client_ids, list(test.counts)) == (['a', 'd'], [2, 1])
  history = train(run_config(tmp_path, 'cifar100'), log=lambda line: None)
  assert np.isfinite(history[-1]['train_loss'])
  # Another store format version is another cache entry, converted anew.
  assert store.meta['options']['format'] == benchmark_data.STORE_FORMATS['cifar100']
  monkeypatch.setitem(benchmark_data.STORE_FORMATS, 'cifar100', 1)
  older, _ = open_split(cfg, 'train')
  assert older.directory != store.directory and older.meta['options']['format'] == 1


def test_shakespeare_char_ids_and_sequences(tmp_path):
  snippets = np.empty(2, object)
  snippets[:] = [b'ab', b'c~']  # '~' is not in the vocabulary: OOV
  other = np.empty(1, object)
  other[:] = [b'hello world']
  write_fedjax(tmp_path / 'shakespeare_train.sqlite',
               {'ROMEO': {'snippets': snippets}, 'JULIET': {'snippets': other}})
  write_fedjax(tmp_path / 'shakespeare_test.sqlite', {'ROMEO': {'snippets': other}})
  store, num_classes = open_split(
      {'name': 'shakespeare', 'path': str(tmp_path), 'sequence_length': 5}, 'train')
  assert num_classes == 90 == 3 + len(SHAKESPEARE_CHARS) + 1
  char = lambda c: 3 + SHAKESPEARE_CHARS.index(c)
  a, b, c, oov = char(b'a'), char(b'b'), char(b'c'), 89
  # Joined: BOS a b EOS BOS c oov EOS (8 ids) -> 7 input/target pairs, 2 rows.
  data = store.gather([0])
  np.testing.assert_array_equal(data.counts, [2])
  np.testing.assert_array_equal(data.examples['x'][0],
                                [[1, a, b, 2, 1], [c, oov, 0, 0, 0], [0] * 5])
  np.testing.assert_array_equal(data.examples['y'][0],
                                [[a, b, 2, 1, c], [oov, 2, 0, 0, 0], [0] * 5])
  assert list(store.counts) == [2, 3]  # 'hello world' + BOS/EOS: 12 pairs
  assert np.isfinite(one_round(store.gather([1, 0]), [1, 0], num_classes))


def test_stackoverflow_vocabulary_ids_and_tags(tmp_path):
  client = stackoverflow_client
  write_fedjax(tmp_path / 'stackoverflow_train.sqlite', {
      'u1': client([b'the cat the', b'dog'], [b'python|numpy', b'python']),
      'u2': client([b'the dog ran far away'], [b'java'])})
  write_fedjax(tmp_path / 'stackoverflow_test.sqlite',
               {'u3': client([b'cat'], [b'numpy'])})
  cfg = {'name': 'stackoverflow', 'path': str(tmp_path), 'vocab_size': 2,
         'num_tags': 2, 'sequence_length': 4}
  store, num_classes = open_split(cfg, 'train')
  # Counts: the 3, dog 2, cat/ran/far/away 1 -> vocab (the, dog): ids 3, 4; OOV 5.
  # Tags: python 2, java 1 = numpy 1 (tie by text) -> (python, java).
  assert num_classes == 2 + 4
  data = store.gather([0, 1])
  np.testing.assert_array_equal(data.examples['x'][0],
                                [[1, 3, 5, 3], [1, 4, 0, 0]])
  np.testing.assert_array_equal(data.examples['y'][0],
                                [[3, 5, 3, 2], [4, 2, 0, 0]])
  np.testing.assert_array_equal(data.examples['x'][1, 0], [1, 3, 4, 5])  # truncated
  np.testing.assert_array_equal(data.examples['tags'][0], [[1, 0], [1, 0]])
  np.testing.assert_array_equal(data.examples['tags'][1, 0], [0, 1])
  np.testing.assert_array_equal(data.counts, [2, 1])
  assert np.isfinite(one_round(data, [0, 1], num_classes))


# --- bad input -----------------------------------------------------------------

def test_missing_file_names_the_file(tmp_path):
  with pytest.raises(DataError, match='federated_emnist_train.sqlite: file not found'):
    open_split({'name': 'emnist', 'path': str(tmp_path)}, 'train')


def test_wrong_schema_names_table_and_column(tmp_path):
  path = tmp_path / 'federated_emnist_train.sqlite'
  with sqlite3.connect(path) as db:
    db.execute('CREATE TABLE federated_data (client_id BLOB, num_examples INTEGER)')
  with pytest.raises(DataError, match=r"federated_emnist_train.sqlite: table "
                     r"'federated_data' lacks column\(s\) \['data'\]"):
    open_split({'name': 'emnist', 'path': str(tmp_path)}, 'train')
  other = tmp_path / 'cifar100.sqlite'
  with sqlite3.connect(other) as db:
    db.execute('CREATE TABLE examples (split_name TEXT, client_id TEXT, '
               'serialized_example_proto BLOB)')
  with pytest.raises(DataError, match="cifar100.sqlite: .*missing table 'client_metadata'"):
    open_split({'name': 'cifar100', 'path': str(tmp_path)}, 'train')


def test_client_with_zero_examples_is_named(tmp_path):
  clients = emnist_clients((2, 1), seed=0)
  clients['f0009_00'] = {'pixels': np.zeros((0, 28, 28), np.float32),
                         'label': np.zeros(0, np.int64)}
  write_fedjax(tmp_path / 'federated_emnist_train.sqlite', clients)
  with pytest.raises(DataError, match="federated_emnist_train.sqlite: client "
                     "'f0009_00' has zero examples"):
    open_split({'name': 'emnist', 'path': str(tmp_path)}, 'train')
  assert not os.listdir(tmp_path / 'fedjax_sim_cache')  # nothing half-written


def test_label_out_of_range_names_file_and_client(tmp_path):
  clients = emnist_clients((2, 3), seed=0)
  clients['f0001_00']['label'][1] = 62
  write_fedjax(tmp_path / 'federated_emnist_train.sqlite', clients)
  with pytest.raises(DataError, match=r"federated_emnist_train.sqlite: client "
                     r"'f0001_00': label 62 outside \[0, 62\)"):
    open_split({'name': 'emnist', 'path': str(tmp_path)}, 'train')
