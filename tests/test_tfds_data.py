"""The TFDS loader (on ArrayRecord files a tiny builder writes, and on
`tfds.testing.mock_data`) and the partitioners: iid, dirichlet, shards, powerlaw."""

import importlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import default
from fedjax_sim.data.tfds_loader import load_tfds
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
part = importlib.import_module('fedjax_sim.data.partition')  # the package
# re-exports the function `partition` under the module's name.
NUM_TRAIN, NUM_TEST = 30, 9


class TinyPixels(tfds.core.GeneratorBasedBuilder):
  """Example i: 4x4x1 uint8 pixels all equal to 6*i, label i % 3; no supervised keys."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'pixels': tfds.features.Tensor(shape=(4, 4, 1), dtype=np.uint8),
        'digit': tfds.features.ClassLabel(num_classes=3),
        'weight': tfds.features.Tensor(shape=(), dtype=np.float32)}))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples(0, NUM_TRAIN),
            'test': self._generate_examples(NUM_TRAIN, NUM_TRAIN + NUM_TEST)}

  def _generate_examples(self, start, stop):
    for i in range(start, stop):
      yield i, {'pixels': np.full((4, 4, 1), 6 * i, np.uint8), 'digit': i % 3,
                'weight': 1.}


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  TinyPixels(data_dir=data_dir, file_format='array_record').download_and_prepare()
  return data_dir


def load_tiny(data_dir, num_clients=3, method='iid', **kwargs):
  return load_tfds('tiny_pixels', num_clients, method, 0, image_key='pixels',
                   label_key='digit', data_dir=data_dir, **kwargs)


def test_loader_reads_array_record_files_into_normalized_clients(tiny_dir):
  train_data, test, num_classes = load_tiny(tiny_dir, num_clients=4)
  x, y, counts = train_data.examples['x'], train_data.examples['y'], train_data.counts
  assert x.shape == (4, 8, 4, 4, 1) and x.dtype == np.float32 and y.dtype == np.int32
  assert num_classes == 3 and counts.tolist() == [8, 8, 7, 7]
  seen = []
  for c in range(4):
    for row in range(counts[c]):
      i = round(float(x[c, row, 0, 0, 0]) * 255 / 6)
      np.testing.assert_allclose(x[c, row], 6 * i / 255, rtol=1e-6)
      assert y[c, row] == i % 3
      seen.append(i)
  assert sorted(seen) == list(range(NUM_TRAIN))
  assert test['x'].shape == (NUM_TEST, 4, 4, 1) and test['x'].dtype == np.float32
  test_ids = np.round(test['x'][:, 0, 0, 0] * 255 / 6).astype(int)  # TFDS shuffles
  assert sorted(test_ids) == list(range(NUM_TRAIN, NUM_TRAIN + NUM_TEST))
  np.testing.assert_allclose(test['x'], np.broadcast_to(
      6 * test_ids[:, None, None, None] / 255, test['x'].shape), rtol=1e-6)
  assert test['y'].tolist() == (test_ids % 3).tolist()


def test_mock_mnist_uses_supervised_keys_and_scales_by_255():
  with tfds.testing.mock_data(num_examples=60):
    raw = tfds.data_source('mnist', split='train')
    raw_x = np.stack([raw[i]['image'] for i in range(60)])
    raw_y = np.array([raw[i]['label'] for i in range(60)])
    train_data, test, num_classes = load_tfds('mnist', 6, 'iid', 5)
  parts = part.iid_partition(60, 6, np.random.default_rng(5))
  assert num_classes == 10 and test['x'].shape == (60, 28, 28, 1)
  assert train_data.examples['x'].shape == (6, 10, 28, 28, 1)
  for c, p in enumerate(parts):
    np.testing.assert_allclose(train_data.examples['x'][c], raw_x[p] / 255., rtol=1e-6)
    np.testing.assert_array_equal(train_data.examples['y'][c], raw_y[p])
  assert raw_x.max() > 200  # so that the scaling above is not vacuous


@pytest.mark.parametrize('kwargs,message', [
    ({'image_key': None, 'label_key': None},
     "data.image_key and data.label_key must be set: TFDS data set 'tiny_pixels'"),
    ({'image_key': 'nope'}, "data.image_key='nope' is not a feature"),
    ({'label_key': 'weight'},
     "data.label_key='weight' of TFDS data set 'tiny_pixels' must be a ClassLabel"),
    ({'split_test': 'bogus'}, "data.split_test='bogus' cannot be read"),
    ({'split_train': 'train[:0]'}, "data.split_train='train[:0]' cannot be read"),
])
def test_loader_bad_input_names_the_field(tiny_dir, kwargs, message):
  args = {'image_key': 'pixels', 'label_key': 'digit', **kwargs}
  with pytest.raises(ConfigError) as info:
    load_tfds('tiny_pixels', 3, data_dir=tiny_dir, **args)
  assert message in str(info.value)


def test_loader_unknown_name_and_missing_files(tmp_path):
  with pytest.raises(ConfigError, match="data.tfds_name='no_such_set_xyz' is not"):
    load_tfds('no_such_set_xyz', 3)
  with pytest.raises(DataError, match='tfds:tiny_pixels: no ArrayRecord files'):
    load_tfds('tiny_pixels', 3, image_key='pixels', label_key='digit',
              data_dir=str(tmp_path))


METHODS = {'iid': {}, 'dirichlet': {'alpha': 0.3}, 'shards': {'shards_per_client': 2},
           'powerlaw': {'powerlaw_sigma': 1.5}}


@pytest.mark.parametrize('method', sorted(METHODS))
def test_partition_is_a_deterministic_disjoint_cover(method):
  labels = np.random.default_rng(1).integers(0, 5, 400)

  def run(seed):
    kw = {'alpha': 0.5, **METHODS[method]}
    return part.partition(labels, 12, method, kw.pop('alpha'),
                          np.random.default_rng(seed), **kw)

  parts = run(7)
  assert len(parts) == 12
  assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(400))
  assert all(np.array_equal(a, b) for a, b in zip(parts, run(7)))
  assert any(not np.array_equal(a, b) for a, b in zip(parts, run(8)))


def test_shards_hand_example_gives_one_label_per_client():
  # 6 of label 0, 4 of label 1, 5 clients x 1 shard: label 0 gets 3 shards
  # and label 1 gets 2, each of 2 examples.
  labels = np.array([0] * 6 + [1] * 4)
  parts = part.shards_partition(labels, 5, 1, np.random.default_rng(0))
  assert [len(p) for p in parts] == [2] * 5
  assert sorted(int(labels[p[0]]) for p in parts) == [0, 0, 0, 1, 1]
  assert all(len(set(labels[p])) == 1 for p in parts)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_shards_give_each_client_at_most_k_labels(k):
  labels = np.random.default_rng(2).choice(10, 2000, p=np.linspace(1, 3, 10) / 20)
  parts = part.shards_partition(labels, 50, k, np.random.default_rng(0))
  assert max(len(np.unique(labels[p])) for p in parts) <= k
  assert np.mean([len(np.unique(labels[p])) for p in parts]) > k - 0.5
  sizes = [len(p) for p in parts]
  assert max(sizes) < 1.3 * min(sizes)  # near-equal shards (mean 40 * k)


def test_shards_per_label_largest_remainder():
  # quotas 4*[5,1,1]/7 = [2.86, .57, .57]: at least one shard per label.
  np.testing.assert_array_equal(
      part._shards_per_label(np.array([5, 1, 1]), 4), [2, 1, 1])
  # quotas 10*[6,3,1]/10 = [6, 3, 1] exactly.
  np.testing.assert_array_equal(
      part._shards_per_label(np.array([6, 3, 1]), 10), [6, 3, 1])


@pytest.mark.parametrize('labels,clients,k,message', [
    (np.arange(10) % 2, 6, 2, 'data.shards_per_client=2 is too large'),
    (np.arange(10) % 5, 2, 2, 'data.shards_per_client=2 is too small'),
    (np.arange(10) % 2, 2, 0, 'data.shards_per_client must be an integer >= 1'),
])
def test_shards_bad_k_names_the_field(labels, clients, k, message):
  with pytest.raises(ConfigError, match=message):
    part.shards_partition(labels, clients, k, np.random.default_rng(0))


def majority_share(labels, parts):
  return np.mean([np.bincount(labels[p]).max() / len(p) for p in parts if len(p)])


def test_dirichlet_tiny_alpha_is_skewed_and_iid_is_not():
  labels = np.repeat(np.arange(10), 100)
  skewed = part.dirichlet_partition(labels, 20, 0.01, np.random.default_rng(0))
  iid = part.iid_partition(len(labels), 20, np.random.default_rng(0))
  assert majority_share(labels, skewed) > 0.8
  assert majority_share(labels, iid) < 0.35


def test_powerlaw_sizes_are_heavy_tailed_and_labels_iid():
  labels = np.repeat(np.arange(4), 2500)
  parts = part.powerlaw_partition(len(labels), 100, 2., np.random.default_rng(0))
  sizes = np.sort([len(p) for p in parts])
  assert sizes.min() >= 1 and sizes.sum() == 10_000
  assert sizes[-1] > 10 * np.median(sizes)  # iid would give 100 each
  assert sizes[-10:].sum() > 0.5 * 10_000  # top 10% of clients hold most data
  biggest = parts[int(np.argmax([len(p) for p in parts]))]
  np.testing.assert_allclose(np.bincount(labels[biggest], minlength=4) / len(biggest),
                             0.25, atol=0.06)


def test_powerlaw_sigma_zero_is_equal_sizes_and_bad_values_fail():
  parts = part.powerlaw_partition(103, 10, 0., np.random.default_rng(0))
  assert sorted(len(p) for p in parts) == [10] * 7 + [11] * 3
  with pytest.raises(ConfigError, match='data.powerlaw_sigma must be >= 0, got -1'):
    part.powerlaw_partition(103, 10, -1., np.random.default_rng(0))
  with pytest.raises(ConfigError, match='data.num_clients=11 exceeds the 10 examples'):
    part.powerlaw_partition(10, 11, 1., np.random.default_rng(0))


def tfds_config(data_dir, **data):
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = 1, 1, 3
  config.data = {'name': 'tfds', 'tfds_name': 'tiny_pixels', 'num_clients': 3,
                 'partition': 'shards', 'shards_per_client': 1,
                 'image_key': 'pixels', 'label_key': 'digit', 'data_dir': data_dir,
                 **data}
  config.model.options.hidden = (8,)
  config.client.batch_size = 5
  return config


def test_one_fedavg_round_on_tfds_data(tiny_dir):
  history = train(tfds_config(tiny_dir), log=lambda line: None)
  assert history[-1]['round'] == 1 and math.isfinite(history[-1]['test_loss'])
  assert 0. <= history[-1]['test_accuracy'] <= 1.


@pytest.mark.parametrize('data,message', [
    ({'partition': 'zipf'}, "data.partition must be one of ['iid', 'dirichlet', "
     "'shards', 'powerlaw'], got 'zipf'"),
    ({'shards_per_client': 11}, 'data.shards_per_client=11 is too large'),
    ({'tfds_name': 'no_such_set_xyz'}, "data.tfds_name='no_such_set_xyz'"),
])
def test_bad_tfds_config_names_the_field(tiny_dir, data, message):
  with pytest.raises(ConfigError) as info:
    build_experiment(tfds_config(tiny_dir, **data))
  assert message in str(info.value)


def test_a_missing_tfds_dependency_is_one_line_before_anything_downloads(tmp_path):
  """Issue 28: `configs/tfds_mnist.py` without `importlib_resources` (which
  TFDS imports lazily but does not require) gave a traceback mid-download."""
  shim = tmp_path / 'shim' / 'importlib_resources'
  shim.mkdir(parents=True)
  (shim / '__init__.py').write_text(
      "raise ModuleNotFoundError(\"No module named 'importlib_resources'\", "
      "name='importlib_resources')\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(tmp_path / 'shim'), os.environ.get('PYTHONPATH', '')]))
  got = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
       f'--config={ROOT}/configs/tfds_mnist.py', f'--config.data.data_dir={tmp_path}/tfds',
       '--config.rounds=1'], capture_output=True, text=True, timeout=300, env=env)
  assert got.returncode == 2, got.stderr[-3000:]
  assert got.stderr.strip() == (
      "error: data.name='tfds' needs the Python package 'importlib_resources', which is not "
      "installed (No module named 'importlib_resources'); install it with "
      "`pip install importlib_resources`")
  assert not os.path.exists(tmp_path / 'tfds')  # nothing downloaded or prepared


def test_tfds_lazy_dependencies_are_installed_with_the_package():
  with open(os.path.join(ROOT, 'pyproject.toml')) as f:
    dependencies = f.read().split('dependencies = [', 1)[1].split(']', 1)[0]
  assert '"importlib_resources>=' in dependencies
  importlib.import_module('importlib_resources')
