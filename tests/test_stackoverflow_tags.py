"""StackOverflow's tag prediction task from the SQLite files of
`sqlite_fixtures`: each post as a sparse bag of words with multi-hot tags,
and the tag model's logits and gradients on it equal to TFF's dense bag of
words times the same kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.data import benchmark_data
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError
from fedjax_sim.models import get_model
from sqlite_fixtures import stackoverflow_client, write_fedjax


def open_split(cfg: dict, split: str) -> tuple[benchmark_data.ClientStore, int]:
  """`benchmark_data.open_split` of a data section given as a dict."""
  return benchmark_data.open_split(DataSettings(**cfg), split)


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
