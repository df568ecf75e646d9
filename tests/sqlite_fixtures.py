"""Tiny SQLite files of the federated benchmarks, written independently of the
loaders (msgpack blobs for FedJAX's `federated_data` table; hand-encoded
`tf.train.Example` protos for TFF's `examples`/`client_metadata` tables), and
`shrink`, which points a Reddi et al. config at them with a tiny model."""

import os
import sqlite3
import struct
import zlib

import msgpack
import numpy as np


# --- independent writers -----------------------------------------------------

def _ext(array: np.ndarray) -> msgpack.ExtType:
  if array.dtype == object:
    return msgpack.ExtType(4, msgpack.packb((list(array.shape), list(array.ravel())),
                                            use_bin_type=True))
  return msgpack.ExtType(1, msgpack.packb(
      (list(array.shape), array.dtype.name, array.tobytes()), use_bin_type=True))


def write_fedjax(path, clients):
  """`clients`: {client id: {feature: array}} -> FedJAX `federated_data`."""
  with sqlite3.connect(path) as db:
    db.execute('CREATE TABLE federated_data (client_id BLOB NOT NULL PRIMARY KEY, '
               'data BLOB NOT NULL, num_examples INTEGER NOT NULL)')
    for cid, feats in clients.items():
      blob = zlib.compress(msgpack.packb({k: _ext(v) for k, v in feats.items()}))
      db.execute('INSERT INTO federated_data VALUES (?, ?, ?)',
                 (cid.encode(), blob, len(next(iter(feats.values())))))
  return str(path)


def _varint(n):
  out = b''
  while True:
    if n < 0x80:
      return out + bytes([n])
    out, n = out + bytes([n & 0x7F | 0x80]), n >> 7


def _len_field(number, payload):
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def tf_example(features):
  """{name: bytes | float array | int array} -> serialized tf.train.Example."""
  entries = b''
  for name, value in features.items():
    if isinstance(value, bytes):
      feature = _len_field(1, _len_field(1, value))
    elif np.asarray(value).dtype.kind == 'f':
      feature = _len_field(2, _len_field(1, struct.pack(
          f'<{np.size(value)}f', *np.ravel(value))))
    else:
      packed = b''.join(_varint(int(v) % (1 << 64)) for v in np.ravel(value))
      feature = _len_field(3, _len_field(1, packed))
    entries += _len_field(1, _len_field(1, name.encode()) + _len_field(2, feature))
  return _len_field(1, entries)


def write_tff(path, splits):
  """`splits`: {split: {client id: [example feature dicts]}} -> TFF tables."""
  with sqlite3.connect(path) as db:
    db.execute('CREATE TABLE examples (split_name TEXT NOT NULL, client_id TEXT '
               'NOT NULL, serialized_example_proto BLOB NOT NULL)')
    db.execute('CREATE TABLE client_metadata (client_id TEXT NOT NULL, '
               'split_name TEXT NOT NULL, num_examples INTEGER NOT NULL)')
    for split, clients in splits.items():
      for cid, examples in clients.items():
        for ex in examples:
          db.execute('INSERT INTO examples VALUES (?, ?, ?)', (split, cid, tf_example(ex)))
        db.execute('INSERT INTO client_metadata VALUES (?, ?, ?)',
                   (cid, split, len(examples)))
  return str(path)


def strings(values):
  """A 1-D object array of bytes (a FedJAX bytes feature)."""
  out = np.empty(len(values), object)
  out[:] = list(values)
  return out


def emnist_clients(counts, seed, label_shift=0):
  rng = np.random.default_rng(seed)
  return {f'f{i:04d}_00': {'pixels': rng.random((n, 28, 28), dtype=np.float32),
                           'label': ((np.arange(n) * 7 + i + label_shift) % 62).astype(np.int64)}
          for i, n in enumerate(counts)}


def stackoverflow_client(tokens, tags, titles=None):
  client = {'tokens': strings(tokens), 'tags': strings(tags),
            'score': np.zeros(len(tokens), np.int64)}
  if titles is not None:
    client['title'] = strings(titles)
  return client


# --- one tiny directory per benchmark -------------------------------------------

SHAKESPEARE = {
    'train': {'ROMEO': [b'But soft!', b'What light~'], 'JULIET': [b'O Romeo'],
              'NURSE': [b'Anon, anon!', b'I come', b'Ay']},
    'test': {'ROMEO': [b'Good night, good night~~'], 'MERCUTIO': [b'A plague']},
}
# Train token words: exactly 8 distinct ones, so `vocab_size=8` keeps them all
# and every other word is OOV; train tags: exactly 3 distinct ones.
STACKOVERFLOW = {
    'train': {
        'u1': (['how to sort a list', 'sort a dict'], ['python sort', 'dict'],
               ['python|sorting', 'python']),
        'u2': (['list in java', 'java java'], ['java list', 'java'], ['java', 'java']),
        'u3': (['sort in java'], ['sorting'], ['java|sorting']),
    },
    'test': {
        'u4': (['how to sort a zebra list', 'zebra zebra'], ['a title', 'nothing'],
               ['python|rust', 'rust']),
        'u5': ([' '.join(['java'] * 25)], ['long'], ['java|sorting|python']),
    },
}
SO_WORDS = frozenset(w for posts, _, _ in STACKOVERFLOW['train'].values()
                     for post in posts for w in post.split())
SO_TAGS = frozenset(t for _, _, tags in STACKOVERFLOW['train'].values()
                    for post in tags for t in post.split('|'))
EMNIST_COUNTS = {'train': (2, 5, 1), 'test': (3, 4)}
CIFAR_COUNTS = {'train': (3, 1, 2), 'test': (2, 1)}


def write_benchmarks(root):
  """Writes the four benchmarks under `root/<name>/` in their usual file names
  (CIFAR-100 in TFF's layout, the others in FedJAX's) and returns `root`."""
  root = str(root)
  for name in ('emnist', 'shakespeare', 'stackoverflow', 'cifar100'):
    os.makedirs(os.path.join(root, name), exist_ok=True)
  for split, seed in (('train', 0), ('test', 1)):
    write_fedjax(os.path.join(root, 'emnist', f'federated_emnist_{split}.sqlite'),
                 emnist_clients(EMNIST_COUNTS[split], seed))
    write_fedjax(os.path.join(root, 'shakespeare', f'shakespeare_{split}.sqlite'),
                 {cid: {'snippets': strings(s)} for cid, s in SHAKESPEARE[split].items()})
    write_fedjax(os.path.join(root, 'stackoverflow', f'stackoverflow_{split}.sqlite'),
                 {cid: stackoverflow_client([p.encode() for p in posts],
                                            [t.encode() for t in tags],
                                            [t.encode() for t in titles])
                  for cid, (posts, titles, tags) in STACKOVERFLOW[split].items()})
  rng = np.random.default_rng(2)
  write_tff(os.path.join(root, 'cifar100', 'cifar100.sqlite'), {
      split: {f'{split}{i}': [{'image': rng.integers(0, 256, 3072),
                               'label': np.array([(7 * i + j) % 100]),
                               'coarse_label': np.array([0])} for j in range(n)]
              for i, n in enumerate(counts)}
      for split, counts in CIFAR_COUNTS.items()})
  return root


# Small module sizes for each benchmark model (`shrink` keeps the `task` and
# `KEPT_OPTIONS` options).
TINY_MODELS = {
    'cnn': {},
    'resnet18_gn': {'width': 4, 'groups': 2, 'blocks': (1, 1, 1, 1)},
    'char_lstm': {'embed_dim': 4, 'hidden': (8, 8)},
    'nwp_lstm': {'embed_dim': 4, 'hidden': (8,), 'projection': 4},
    'transformer': {'num_layers': 1, 'num_heads': 2, 'dim': 8, 'mlp_dim': 8,
                    'max_len': 32},
    'tag_logreg': {'vocab_size': len(SO_WORDS)},
}
# Options that do not set the model's size (preprocessing inside the model).
KEPT_OPTIONS = ('crop', 'standardize')


def shrink(config, root):
  """Points a benchmark `config` at `write_benchmarks(root)`'s files with a
  tiny model, 2 clients a round, and (StackOverflow) vocabularies that hold
  exactly the train words and tags, the OOV word id left unscored; the
  config's `task` and `KEPT_OPTIONS` model options are kept."""
  name = config.data.name
  config.data.path = os.path.join(str(root), name)
  config.clients_per_round = 2
  config.eval_clients = 2
  task = dict(config.model.options.get('task', None) or {})
  if name == 'stackoverflow':
    config.data.vocab_size = config.data.bow_vocab_size = len(SO_WORDS)
    config.data.num_tags = len(SO_TAGS)
    if 'unscored' in task:  # next-word prediction: BOS, EOS and OOV
      task['unscored'] = (1, 2, len(SO_WORDS) + 3)
  options = dict(TINY_MODELS[config.model.name])
  options.update((k, config.model.options[k]) for k in KEPT_OPTIONS
                 if k in config.model.options)
  if task:
    options['task'] = task
  config.model.options = options
  return config
