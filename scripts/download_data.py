r"""Downloads a standard federated benchmark's SQLite files (explicit opt-in).

Nothing in fedjax_sim downloads on its own and no test runs this script; run it
once, then point experiments at the directory:

  python scripts/download_data.py --dataset=emnist --out=/data/fl
  python scripts/train.py --config=configs/default.py \
      --config.data.name=emnist --config.data.path=/data/fl

Sources (the files FedJAX's `fedjax.datasets` loaders fetch):
- emnist, shakespeare, stackoverflow: FedJAX's per-split SQLite files under
  https://storage.googleapis.com/gresearch/fedjax/ (layout: one
  `federated_data` table, see fedjax_sim/data/sqlite_loader.py);
- cifar100: TFF's LZMA-compressed SQLite file (all splits in one file), which
  this script decompresses to `cifar100.sqlite`.
StackOverflow is large (several GB). Existing files are kept (not re-fetched).
"""

from __future__ import annotations

import lzma
import os
import shutil
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from fedjax_sim.data.benchmark_data import BENCHMARKS, FILES  # noqa: E402

FEDJAX = 'https://storage.googleapis.com/gresearch/fedjax'
URLS = {
    'emnist': [f'{FEDJAX}/emnist/federated_emnist_{s}.sqlite' for s in ('train', 'test')],
    'shakespeare': [f'{FEDJAX}/shakespeare/shakespeare_{s}.sqlite'
                    for s in ('train', 'test')],
    'stackoverflow': [f'{FEDJAX}/stackoverflow/stackoverflow_{s}.sqlite'
                      for s in ('train', 'held_out', 'test')],
    'cifar100': ['https://storage.googleapis.com/tff-datasets-public/cifar100.sqlite.lzma'],
}

_DATASET = flags.DEFINE_enum('dataset', None, list(BENCHMARKS), 'Benchmark to fetch.')
_OUT = flags.DEFINE_string('out', None, 'Directory to write the files to.')


def fetch(url: str, out_dir: str) -> str:
  """Downloads `url` into `out_dir` (via a temporary name); returns the path."""
  path = os.path.join(out_dir, os.path.basename(url))
  if os.path.exists(path):
    print(f'keeping existing {path}')
    return path
  print(f'downloading {url}')
  with urllib.request.urlopen(url) as response, open(path + '.part', 'wb') as f:
    shutil.copyfileobj(response, f, 1 << 24)
  os.replace(path + '.part', path)
  return path


def decompress(path: str) -> str:
  """`x.sqlite.lzma` -> `x.sqlite` next to it."""
  target = path[:-len('.lzma')]
  if not os.path.exists(target):
    with lzma.open(path) as src, open(target + '.part', 'wb') as dst:
      shutil.copyfileobj(src, dst, 1 << 24)
    os.replace(target + '.part', target)
  return target


def main(argv):
  del argv
  os.makedirs(_OUT.value, exist_ok=True)
  for url in URLS[_DATASET.value]:
    path = fetch(url, _OUT.value)
    if path.endswith('.lzma'):
      path = decompress(path)
    print(f'ready: {path}')
  print(f'expected by the loader: {sorted(set(FILES[_DATASET.value]))}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['dataset', 'out'])
  app.run(main)
