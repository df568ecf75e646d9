"""The standard federated benchmarks from local SQLite files, cached as stores.

Config (`config.data`): `name` in `BENCHMARKS`; `path`, the directory holding
the files `scripts/download_data.py` fetches (names in `FILES`; override with
`train_file` / `test_file`, relative to `path` or absolute); `cache_dir`
(default `<path>/fedjax_sim_cache`); `sequence_length` (0, the default:
Shakespeare 80, StackOverflow 20); StackOverflow's `task` ('nwp': next-word
prediction, the default; 'tags': tag prediction from a sparse bag of words of
`bow_vocab_size` (10000) words, `benchmark_features.decode_stackoverflow_tags`,
each post's (word id, weight) pairs padded to `bow_max_words` pairs: 0, the
default, is exact, the most distinct in-vocabulary words of any post of the
split, found by one extra pass over the file; a positive value skips that pass
and keeps a longer post's `bow_max_words` most frequent words only, with their
weights unchanged, so only such posts' logits differ from the dense bag's),
`vocab_size` (10000, the 'nwp' vocabulary) and `num_tags` (500), or
`vocab_file` / `tags_file` (one entry per line, optionally followed by a
count); `max_client_examples` (0: keep all; else each client's
first that many rows); `test_clients` (0: all test clients make the
centralized test set; else a seeded subset of that many).

The first load converts each split once to a `ClientStore` under `cache_dir`
(keyed by the source file's size and mtime, the options above and the
benchmark's `STORE_FORMATS` version); later loads memory-map it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from typing import Any, Iterator, Mapping

import numpy as np

from fedjax_sim.data import benchmark_features as features
from fedjax_sim.data.client_store import ClientStore, build_store
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.data.sqlite_loader import read_clients
from fedjax_sim.errors import ConfigError, DataError

BENCHMARKS = ('emnist', 'shakespeare', 'stackoverflow', 'cifar100')
# (train file, test file, TFF split names): FedJAX files hold one split each,
# TFF's CIFAR-100 file holds both, told apart by `split_name`.
FILES = {
    'emnist': ('federated_emnist_train.sqlite', 'federated_emnist_test.sqlite'),
    'shakespeare': ('shakespeare_train.sqlite', 'shakespeare_test.sqlite'),
    'stackoverflow': ('stackoverflow_train.sqlite', 'stackoverflow_test.sqlite'),
    'cifar100': ('cifar100.sqlite', 'cifar100.sqlite'),
}
SEQUENCE_LENGTH = {'shakespeare': 80, 'stackoverflow': 20}
STACKOVERFLOW_TASKS = ('nwp', 'tags')
BOW_VOCAB_SIZE = DataSettings._field_defaults['bow_vocab_size']
MAX_BOW_VOCAB = 2 ** 24  # word ids are stored exactly as float32
# Version of each benchmark's stored features, part of its stores' cache key:
# bump it when its decoder's output changes, so older stores are not reused.
# cifar100 2: pixels / 255 (1: also standardized per channel).
STORE_FORMATS = {'emnist': 1, 'shakespeare': 1, 'stackoverflow': 1, 'cifar100': 2}


def _options(settings: DataSettings) -> dict[str, Any]:
  name = settings.name
  opts = {'sequence_length': settings.sequence_length or SEQUENCE_LENGTH.get(name, 0),
          'max_client_examples': settings.max_client_examples,
          'test_clients': settings.test_clients}
  if name == 'stackoverflow':
    opts.update(task=settings.task, vocab_size=settings.vocab_size,
                bow_vocab_size=settings.bow_vocab_size, bow_max_words=settings.bow_max_words,
                num_tags=settings.num_tags, vocab_file=settings.vocab_file,
                tags_file=settings.tags_file)
  for field in ('sequence_length', 'max_client_examples', 'test_clients',
                'vocab_size', 'bow_vocab_size', 'bow_max_words', 'num_tags'):
    value = opts.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ConfigError(f'data.{field} must be an integer >= 0, got {value!r}')
  if name == 'stackoverflow' and opts['task'] not in STACKOVERFLOW_TASKS:
    raise ConfigError(f'data.task must be one of {list(STACKOVERFLOW_TASKS)}, '
                      f'got {opts["task"]!r}')
  if name == 'stackoverflow' and opts['bow_vocab_size'] > MAX_BOW_VOCAB:
    raise ConfigError(f'data.bow_vocab_size must be <= {MAX_BOW_VOCAB}, '
                      f'got {opts["bow_vocab_size"]}')
  return opts


def _file(settings: DataSettings, split: str) -> str:
  default = FILES[settings.name][split == 'test']
  name = (settings.test_file if split == 'test' else settings.train_file) or default
  return name if os.path.isabs(name) else os.path.join(settings.path, name)


def _read_list(path: str) -> tuple[str, ...]:
  if not os.path.isfile(path):
    raise DataError(f'{path}: file not found')
  with open(path) as f:
    return tuple(line.split()[0] for line in f if line.strip())


def decoded_clients(path: str, split: str, decode: features.Decoder,
                    max_examples: int) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
  """`(client id, decoded features)` of each client; `DataError` naming the
  file and client for missing features, labels out of range or no examples."""
  for client, raw in read_clients(path, split):
    try:
      decoded = decode(raw) if raw else {}
    except (KeyError, ValueError) as e:
      raise DataError(f'{path}: client {client!r}: {e}') from None
    count = len(next(iter(decoded.values()))) if decoded else 0
    if count == 0:
      raise DataError(f'{path}: client {client!r} has zero examples')
    if max_examples:
      decoded = {k: v[:max_examples] for k, v in decoded.items()}
    yield client, decoded


def _cache_key(path: str, split: str, opts: Mapping[str, Any]) -> str:
  stat = os.stat(path)
  blob = json.dumps([os.path.abspath(path), split, stat.st_size, stat.st_mtime_ns,
                     sorted(opts.items())], default=str)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _vocabularies(settings: DataSettings, opts: Mapping[str, Any],
                  cache: str) -> features.Vocabularies:
  """Given vocabulary files, or the most frequent words/tags of the train
  split (counted once, cached); `bow_vocab_size` words for `task='tags'`."""
  num_words = opts['bow_vocab_size' if opts['task'] == 'tags' else 'vocab_size']
  if opts['vocab_file'] and opts['tags_file']:
    words, tags = _read_list(opts['vocab_file']), _read_list(opts['tags_file'])
    return features.Vocabularies(words[:num_words], tags[:opts['num_tags']])
  train = _file(settings, 'train')
  if not os.path.isfile(train):
    raise DataError(f'{train}: file not found')
  saved = os.path.join(cache, f'vocab_{_cache_key(train, "train", opts)}.json')
  if os.path.exists(saved):
    with open(saved) as f:
      return features.Vocabularies(*map(tuple, json.load(f)))
  vocab = features.count_stackoverflow(
      (raw for _, raw in read_clients(train, 'train')),
      num_words, opts['num_tags'])
  os.makedirs(cache, exist_ok=True)
  with tempfile.NamedTemporaryFile('w', dir=cache, prefix='.vocab-', delete=False) as f:
    json.dump(vocab, f)  # a name of its own: other processes may count at once
  os.replace(f.name, saved)
  return vocab


def _bow_width(path: str, split: str, opts: Mapping[str, Any],
               vocab: features.Vocabularies) -> int:
  """Words stored per post: `bow_max_words`, or (0) the most distinct
  in-vocabulary words of any kept post of the split (at least 1)."""
  if opts['bow_max_words']:
    return opts['bow_max_words']
  count = functools.partial(features.distinct_words, vocab=vocab)
  clients = decoded_clients(path, split, lambda raw: {'words': count(raw)},
                            opts['max_client_examples'])
  return max([1] + [int(d['words'].max()) for _, d in clients])


def _decoder(name: str, opts: Mapping[str, Any], vocab: features.Vocabularies | None,
             path: str, split: str) -> features.Decoder:
  if name == 'emnist':
    return features.decode_emnist
  if name == 'cifar100':
    return features.decode_cifar100
  if name == 'shakespeare':
    return functools.partial(features.decode_shakespeare,
                             sequence_length=opts['sequence_length'])
  if opts['task'] == 'tags':
    return functools.partial(features.decode_stackoverflow_tags, vocab=vocab,
                             max_words=_bow_width(path, split, opts, vocab))
  return functools.partial(features.decode_stackoverflow, vocab=vocab,
                           sequence_length=opts['sequence_length'])


def open_split(settings: DataSettings, split: str) -> tuple[ClientStore, int]:
  """`(store of split 'train' or 'test', number of classes)` of the benchmark
  `settings` name, converting the SQLite file on first use."""
  name = settings.name
  if name not in BENCHMARKS:
    raise ConfigError(f'data.name must be one of {list(BENCHMARKS)}, got {name!r}')
  if not settings.path:
    raise ConfigError(f'data.path must name the directory holding the {name} '
                      'SQLite files (see scripts/download_data.py)')
  opts = _options(settings)
  cache = settings.cache_dir or os.path.join(settings.path, 'fedjax_sim_cache')
  path = _file(settings, split)
  if not os.path.isfile(path):
    raise DataError(f'{path}: file not found')
  vocab = _vocabularies(settings, opts, cache) if name == 'stackoverflow' else None
  stored = {**opts, 'format': STORE_FORMATS[name]}
  directory = os.path.join(cache, f'{name}_{split}_{_cache_key(path, split, stored)}')
  if os.path.isdir(directory):
    store = ClientStore(directory)
  else:
    clients = decoded_clients(path, split, _decoder(name, opts, vocab, path, split),
                              opts['max_client_examples'])
    store = build_store(directory, clients, {'source': os.path.abspath(path),
                                             'split': split, 'options': stored})
  return store, features.num_classes(name, vocab, opts.get('task', 'nwp'))


def centralized(store: ClientStore, num_clients: int, seed: int) -> dict[str, np.ndarray]:
  """The examples of all clients (`num_clients == 0`) or of a seeded subset,
  concatenated into a centralized `{feature: [rows, ...]}` set."""
  ids = np.arange(store.num_clients)
  if 0 < num_clients < store.num_clients:
    ids = np.sort(np.random.default_rng(seed).choice(ids, num_clients, replace=False))
  starts, stops = store.offsets[ids], store.offsets[ids + 1]
  return {k: np.concatenate([v[a:b] for a, b in zip(starts, stops)])
          for k, v in store.features.items()}


def load_benchmark(settings: DataSettings, seed: int) -> tuple[ClientStore, dict, int]:
  """`(train store, centralized test set, number of classes)`."""
  train, classes = open_split(settings, 'train')
  test, _ = open_split(settings, 'test')
  return train, centralized(test, _options(settings)['test_clients'], seed), classes
