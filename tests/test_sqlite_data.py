"""SQLite benchmark loaders, the memory-mapped client store and streamed rounds.

Tiny files in both layouts are written by the independent writers of
`sqlite_fixtures` (msgpack blobs for FedJAX's `federated_data` table;
hand-encoded `tf.train.Example` protos for TFF's tables).
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
from fedjax_sim.errors import ConfigError, DataError
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


def test_stackoverflow_tags_bag_of_words_and_multi_hot(tmp_path):
  write_fedjax(tmp_path / 'stackoverflow_train.sqlite', {
      'u1': stackoverflow_client([b'a b a c', b'b zzz'], [b'x|y', b'y|q'],
                                 titles=[b'a', b'qq']),
      'u2': stackoverflow_client([b'a c'], [b'y'], titles=[b'zzz'])})
  write_fedjax(tmp_path / 'stackoverflow_test.sqlite',
               {'u3': stackoverflow_client([b'zzz'], [b'q'], titles=[b'www'])})
  cfg = {'name': 'stackoverflow', 'path': str(tmp_path), 'task': 'tags',
         'bow_vocab_size': 3, 'num_tags': 2}
  store, num_classes = open_split(cfg, 'train')
  # Token counts: a 3, b 2, c 2, zzz 1 -> words (a, b, c); tags: y 3, q 1 = x 1
  # -> (y, q). Titles join the bag; OOV words and tags are dropped.
  assert num_classes == 2
  data = store.gather([0, 1])
  assert set(data.examples) == {'x', 'y'}
  # (word id, weight) pairs, most frequent first (ties: lower id), padded with
  # (0, 0) to the most distinct words of a post of the split (3).
  np.testing.assert_allclose(data.examples['x'][0], [[[0, 3 / 5], [1, 1 / 5], [2, 1 / 5]],
                                                     [[1, 1], [0, 0], [0, 0]]])
  np.testing.assert_allclose(data.examples['x'][1, 0], [[0, 1 / 2], [2, 1 / 2], [0, 0]])
  np.testing.assert_array_equal(data.examples['y'][0], [[1, 0], [1, 1]])
  np.testing.assert_array_equal(data.examples['y'][1, 0], [1, 0])
  test, _ = open_split(cfg, 'test')
  np.testing.assert_array_equal(test.gather([0]).examples['x'][0], [[[0, 0]]])
  with pytest.raises(ConfigError, match="data.task must be one of"):
    open_split({**cfg, 'task': 'lr'}, 'train')
  with pytest.raises(ConfigError, match='data.bow_max_words must be an integer >= 0'):
    open_split({**cfg, 'bow_max_words': -1}, 'train')
  with pytest.raises(ConfigError, match='data.bow_vocab_size must be <= 16777216'):
    open_split({**cfg, 'bow_vocab_size': 2 ** 24 + 1}, 'train')


def dense_bag_of_words(text: str, vocab: list[str]) -> np.ndarray:
  """TFF's dense bag of words, float64 `[len(vocab)]`: in-vocabulary word
  counts over the number of in-vocabulary words (all zeros without any)."""
  index = {w: i for i, w in enumerate(vocab)}
  ids = [index[w] for w in text.split() if w in index]
  bag = np.zeros(len(vocab))
  np.add.at(bag, ids, 1.)
  return bag / max(len(ids), 1)


def top_words(bag: np.ndarray, k: int) -> np.ndarray:
  """`bag` keeping only its k largest entries (ties: lower index)."""
  keep = sorted(np.flatnonzero(bag), key=lambda i: (-bag[i], i))[:k]
  out = np.zeros_like(bag)
  out[keep] = bag[keep]
  return out


def test_sparse_bag_of_words_logits_equal_the_dense_layer(tmp_path):
  rng = np.random.default_rng(0)
  vocab = [f'w{i}' for i in rng.permutation(30)]  # ids are not name order
  pool = vocab + [f'oov{i}' for i in range(10)]
  draw = lambda n: ' '.join(rng.choice(pool, n, p=np.arange(40, 0, -1) / 820))
  clients = {}
  for c in range(3):  # repeated and OOV words, titles, an empty and an all-OOV post
    posts = [draw(rng.integers(1, 40)) for _ in range(4)] + ['', 'oov1 oov2 oov1']
    titles = [draw(rng.integers(0, 6)) for _ in range(4)] + ['', '']
    if c == 0:  # the split's widest post, not among the first 2 posts
      posts[-1] += ' ' + ' '.join(vocab)
    clients[f'u{c}'] = (posts, titles)
  write_fedjax(tmp_path / 'stackoverflow_train.sqlite', {
      cid: stackoverflow_client([p.encode() for p in posts], [b't0'] * len(posts),
                                [t.encode() for t in titles])
      for cid, (posts, titles) in clients.items()})
  (tmp_path / 'words.txt').write_text(''.join(f'{w} 9\n' for w in vocab))
  (tmp_path / 'tags.txt').write_text('t0\nt1\n')
  cfg = {'name': 'stackoverflow', 'path': str(tmp_path), 'task': 'tags',
         'bow_vocab_size': 30, 'num_tags': 2, 'vocab_file': str(tmp_path / 'words.txt'),
         'tags_file': str(tmp_path / 'tags.txt')}
  texts = [f'{p} {t}' for posts, titles in clients.values() for p, t in zip(posts, titles)]
  bags = np.stack([dense_bag_of_words(t, vocab) for t in texts])
  assert (bags.sum(1) == 0).sum() == 5 and (bags > 0).sum(1).max() == 30
  kernel = rng.normal(size=(60, 2)).astype(np.float32)
  bias = rng.normal(size=2).astype(np.float32)

  def apply(store, kernel):
    model = get_model('tag_logreg', 2, {'vocab_size': len(kernel)})
    return model.apply({'kernel': kernel, 'bias': bias},
                       jnp.asarray(store.features['x']), None)

  store, _ = open_split(cfg, 'train')
  assert store.features['x'].shape == (18, 30, 2)  # exact: the widest post
  # The model scatters the bag (30 words * 2 tags > 30) or gathers (<= 60).
  for vocab_size in (30, 60):
    np.testing.assert_allclose(apply(store, kernel[:vocab_size]),
                               bags @ kernel[:30] + bias, atol=1e-5)
    # d sum(logits * r) / d kernel = bags^T r on the vocabulary's rows.
    r = rng.normal(size=(18, 2))
    grad = jax.grad(lambda k: jnp.sum(apply(store, k) * r))(jnp.zeros((vocab_size, 2)))
    np.testing.assert_allclose(grad[:30], bags.T @ r, atol=1e-5)
    assert not grad[30:].any()
  # Capped: the 3 most frequent words of each post, with unchanged weights.
  capped, _ = open_split({**cfg, 'bow_max_words': 3}, 'train')
  assert capped.features['x'].shape == (18, 3, 2)
  truncated = np.stack([top_words(b, 3) for b in bags])
  assert (truncated != bags).any(1).sum() >= 9
  np.testing.assert_allclose(apply(capped, kernel[:30]),
                             truncated @ kernel[:30] + bias, atol=1e-5)
  # The exact width counts only the kept rows (2 posts a client here).
  first, _ = open_split({**cfg, 'max_client_examples': 2}, 'train')
  kept = np.concatenate([bags[i:i + 2] for i in (0, 6, 12)])
  assert first.features['x'].shape[1] == (kept > 0).sum(1).max() < 30


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
