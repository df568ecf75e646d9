"""Per-data-set decoding of the standard federated benchmarks' raw features.

Each decoder turns one client's raw SQLite features (`sqlite_loader`) into the
`{'x', 'y', ...}` arrays the engine trains on:

- EMNIST-62: `pixels` `[N, 28, 28]` (or 784 floats) -> `x` float32
  `[N, 28, 28, 1]` as `1 - pixels` (ink = 1, as FedJAX does); `label` -> `y`.
- CIFAR-100: `image` `[N, 32, 32, 3]` uint8 (or 3072 ints) -> `x` float32
  `image / 255` in [0, 1]; fine `label` -> `y`. No augmentation and no
  standardization here: Reddi et al. standardize each image after cropping it,
  which models do (`resnet18_gn` options `crop`, `standardize`).
- Shakespeare: `snippets` (bytes) -> character ids with the vocabulary of
  TFF's text-generation tutorial that FedJAX also uses (0 PAD, 1 BOS, 2 EOS,
  3.. the 86 characters, 89 OOV; 90 ids). A client's snippets are joined, each
  as BOS + chars + EOS, and cut into `x`/`y` (`y` = `x` shifted by one) rows of
  `sequence_length`, the last row padded with PAD — FedJAX's scheme, which
  keeps every character.
- StackOverflow: `tokens` (space-separated) -> `x`/`y` `[N, sequence_length]`
  word ids (0 PAD, 1 BOS, 2 EOS, 3.. the vocabulary, then 1 OOV id), one row
  per post truncated/padded; `tags` ('|'-separated) -> `tags` multi-hot
  float32 `[N, num_tags]` over the tag vocabulary.
- StackOverflow tag prediction (`decode_stackoverflow_tags`, Reddi et al.'s SO
  LR task, TFF's preprocessing): each post's bag of words (`tokens` and, if
  present, `title`) normalized by its number of in-vocabulary words (OOV
  words are dropped; a post without any has an empty bag), stored sparsely as
  `x` float32 `[N, max_words, 2]`: per distinct in-vocabulary word, its id
  (`x[..., 0]`, exact in float32 below 2**24 words) and weight `count /
  in-vocabulary words` (`x[..., 1]`), most frequent first (ties: lower id),
  padded with `(0, 0.)`: exactly the nonzeros of TFF's dense `[N, vocab]`
  vector (8 bytes per word instead of 4 per vocabulary entry). `y` the
  multi-hot tags float32 `[N, num_tags]` (tags outside the vocabulary
  dropped).
"""

from __future__ import annotations

import collections
from typing import Callable, Iterable, Mapping, NamedTuple

import numpy as np

from fedjax_sim.errors import DataError

PAD, BOS, EOS = 0, 1, 2
SHAKESPEARE_CHARS = (b'dhlptx@DHLPTX $(,048cgkoswCGKOSW[_#\'/37;?bfjnrvzBFJNRVZ"&*.26:'
                     b'\naeimquyAEIMQUY]!%)-159\r')
SHAKESPEARE_VOCAB = 3 + len(SHAKESPEARE_CHARS) + 1
_CHAR_IDS = np.full(256, SHAKESPEARE_VOCAB - 1, np.int32)
_CHAR_IDS[np.frombuffer(SHAKESPEARE_CHARS, np.uint8)] = 3 + np.arange(len(SHAKESPEARE_CHARS))

Decoder = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


class Vocabularies(NamedTuple):
  """StackOverflow word and tag vocabularies (most frequent first)."""

  words: tuple[str, ...]
  tags: tuple[str, ...]


def _feature(raw: Mapping[str, np.ndarray], name: str) -> np.ndarray:
  if name not in raw:
    raise KeyError(f'missing feature {name!r} (has {sorted(raw)})')
  return np.asarray(raw[name])


def _labels(raw: Mapping[str, np.ndarray], num_classes: int) -> np.ndarray:
  y = _feature(raw, 'label').reshape(-1).astype(np.int64)
  bad = (y < 0) | (y >= num_classes)
  if bad.any():
    raise ValueError(f'label {int(y[bad][0])} outside [0, {num_classes})')
  return y.astype(np.int32)


def decode_emnist(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  pixels = _feature(raw, 'pixels').astype(np.float32)
  return {'x': (1. - pixels).reshape(-1, 28, 28, 1), 'y': _labels(raw, 62)}


def decode_cifar100(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """`x` = pixels / 255. `tf.image.per_image_standardization`, which Reddi et
  al. apply after cropping, is invariant to that scaling except for its std
  floor `1 / sqrt(n)` (n values an image), which does not scale: images of
  0-255 std below `255 / sqrt(n)` (about 6 for a 24x24x3 crop) would differ.
  Models therefore standardize with the floor scaled by 255
  (`augment.standardize_per_image(x, 255)`: TF's result on the 0-255 pixels)."""
  image = _feature(raw, 'image').reshape(-1, 32, 32, 3).astype(np.float32)
  return {'x': image / np.float32(255), 'y': _labels(raw, 100)}


def _text(value) -> bytes:
  return value if isinstance(value, bytes) else str(value).encode('utf-8')


def decode_shakespeare(raw: Mapping[str, np.ndarray],
                       sequence_length: int) -> dict[str, np.ndarray]:
  snippets = [_text(s) for s in _feature(raw, 'snippets').reshape(-1)]
  if not snippets:
    return {'x': np.zeros((0, sequence_length), np.int32),
            'y': np.zeros((0, sequence_length), np.int32)}
  joined = np.concatenate([
      np.concatenate([[BOS], _CHAR_IDS[np.frombuffer(s, np.uint8)], [EOS]])
      for s in snippets]).astype(np.int32)
  rows = -(-(len(joined) - 1) // sequence_length)
  x = np.full(rows * sequence_length, PAD, np.int32)
  y = np.full(rows * sequence_length, PAD, np.int32)
  x[:len(joined) - 1], y[:len(joined) - 1] = joined[:-1], joined[1:]
  return {'x': x.reshape(rows, sequence_length), 'y': y.reshape(rows, sequence_length)}


def count_stackoverflow(clients: Iterable[Mapping[str, np.ndarray]],
                        num_words: int, num_tags: int) -> Vocabularies:
  """The `num_words` most frequent tokens and `num_tags` most frequent tags
  (ties by text) over `clients`' raw features."""
  words, tags = collections.Counter(), collections.Counter()
  for raw in clients:
    for post in _feature(raw, 'tokens').reshape(-1):
      words.update(_text(post).decode('utf-8').split())
    for post in _feature(raw, 'tags').reshape(-1):
      tags.update(t for t in _text(post).decode('utf-8').split('|') if t)
  top = lambda c, k: tuple(w for w, _ in sorted(c.items(), key=lambda i: (-i[1], i[0]))[:k])
  return Vocabularies(top(words, num_words), top(tags, num_tags))


def decode_stackoverflow(raw: Mapping[str, np.ndarray], vocab: Vocabularies,
                         sequence_length: int) -> dict[str, np.ndarray]:
  word_ids = {w: i + 3 for i, w in enumerate(vocab.words)}
  oov = len(vocab.words) + 3
  posts = [_text(p).decode('utf-8') for p in _feature(raw, 'tokens').reshape(-1)]
  x = np.full((len(posts), sequence_length), PAD, np.int32)
  y = np.full((len(posts), sequence_length), PAD, np.int32)
  for i, post in enumerate(posts):
    ids = [BOS] + [word_ids.get(w, oov) for w in post.split()] + [EOS]
    n = min(len(ids) - 1, sequence_length)
    x[i, :n], y[i, :n] = ids[:n], ids[1:n + 1]
  return {'x': x, 'y': y, 'tags': _multi_hot_tags(raw, vocab.tags)}


def _multi_hot_tags(raw: Mapping[str, np.ndarray], tags: tuple[str, ...]) -> np.ndarray:
  tag_ids = {t: i for i, t in enumerate(tags)}
  posts = _feature(raw, 'tags').reshape(-1)
  out = np.zeros((len(posts), len(tags)), np.float32)
  for i, post in enumerate(posts):
    for tag in _text(post).decode('utf-8').split('|'):
      if tag in tag_ids:
        out[i, tag_ids[tag]] = 1.
  return out


def _post_texts(raw: Mapping[str, np.ndarray]) -> list[str]:
  """Each post's `tokens`, joined with its `title` if the client has titles."""
  posts = [_text(p).decode('utf-8') for p in _feature(raw, 'tokens').reshape(-1)]
  if 'title' in raw:
    titles = [_text(t).decode('utf-8') for t in _feature(raw, 'title').reshape(-1)]
    posts = [f'{p} {t}' for p, t in zip(posts, titles, strict=True)]
  return posts


def distinct_words(raw: Mapping[str, np.ndarray], vocab: Vocabularies) -> np.ndarray:
  """int32 `[N]`: the number of distinct in-vocabulary words of each post."""
  words = frozenset(vocab.words)
  return np.array([len(words.intersection(post.split())) for post in _post_texts(raw)],
                  np.int32)


def decode_stackoverflow_tags(raw: Mapping[str, np.ndarray], vocab: Vocabularies,
                              max_words: int) -> dict[str, np.ndarray]:
  """Sparse bag of words `x` `[N, max_words, 2]` (see the module docstring) and
  multi-hot tags `y`. A post with more than `max_words` distinct words keeps
  its `max_words` most frequent ones, with their untruncated weights."""
  word_ids = {w: i for i, w in enumerate(vocab.words)}
  posts = _post_texts(raw)
  x = np.zeros((len(posts), max_words, 2), np.float32)
  for i, post in enumerate(posts):
    ids = [word_ids[w] for w in post.split() if w in word_ids]
    unique, counts = np.unique(np.asarray(ids, np.int64), return_counts=True)
    keep = np.lexsort((unique, -counts))[:max_words]
    x[i, :len(keep), 0] = unique[keep]
    x[i, :len(keep), 1] = counts[keep].astype(np.float32) / np.float32(max(len(ids), 1))
  return {'x': x, 'y': _multi_hot_tags(raw, vocab.tags)}


def num_classes(name: str, vocab: Vocabularies | None = None,
                task: str = 'nwp') -> int:
  """Classes of benchmark `name`: next-token ids for the language sets, tags
  for StackOverflow's `task='tags'`."""
  if name == 'stackoverflow':
    if vocab is None:
      raise DataError('stackoverflow needs its vocabulary to count classes')
    return len(vocab.tags) if task == 'tags' else len(vocab.words) + 4
  return {'emnist': 62, 'cifar100': 100, 'shakespeare': SHAKESPEARE_VOCAB}[name]
