"""Partitioners and the embedded data sets."""

import numpy as np

from fedjax_sim.data import (dirichlet_partition, iid_partition, load_digits,
                             load_synthetic, validate)
from fedjax_sim.errors import DataError

import pytest


def test_iid_partition_deals_every_example_once():
  parts = iid_partition(103, 10, np.random.default_rng(0))
  assert sorted(np.concatenate(parts).tolist()) == list(range(103))
  assert {len(p) for p in parts} == {10, 11}


def test_dirichlet_partition_is_a_partition_and_skews_labels():
  labels = np.repeat(np.arange(10), 100)
  skewed = dirichlet_partition(labels, 20, 0.1, np.random.default_rng(0))
  mild = dirichlet_partition(labels, 20, 100., np.random.default_rng(0))
  for parts in (skewed, mild):
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))

  def top_class_share(parts):
    return np.mean([np.bincount(labels[p]).max() / len(p) for p in parts if len(p)])

  assert top_class_share(skewed) > 0.5 and top_class_share(mild) < 0.2


def test_digits_shapes_and_split():
  train, test = load_digits(num_clients=7, method='iid', seed=3)
  assert train.num_clients == 7
  assert train.examples['x'].shape[2:] == (8, 8, 1)
  assert int(train.counts.sum()) + len(test['y']) == 1797
  assert len(test['y']) == round(0.2 * 1797)
  assert 0. <= train.examples['x'].min() and train.examples['x'].max() <= 1.
  validate(train, 'digits', 10)


def test_digits_are_scikit_learns_bundled_digits():
  """Read from scikit-learn's file without importing it: the same images and
  labels as its loader."""
  from sklearn import datasets
  from fedjax_sim.data.digits import bundled_digits
  images, labels = bundled_digits()
  bunch = datasets.load_digits()
  np.testing.assert_array_equal(images, bunch.images)
  np.testing.assert_array_equal(labels, bunch.target)
  assert images.shape == (1797, 8, 8) and labels.dtype == np.int32


def test_synthetic_follows_fedprox_shapes_and_power_law():
  train, test = load_synthetic(1., 1., num_clients=30, seed=0)
  assert train.num_clients == 30 and train.examples['x'].shape[2] == 60
  counts = np.asarray(train.counts)
  assert counts.min() >= 40 and counts.max() > 4 * np.median(counts)  # heavy tail
  assert set(np.unique(test['y'])) <= set(range(10))
  a, _ = load_synthetic(1., 1., seed=0)
  b, _ = load_synthetic(1., 1., seed=1)
  np.testing.assert_array_equal(a.examples['x'], train.examples['x'])
  assert not np.array_equal(a.counts, b.counts)


def test_labels_out_of_range_name_the_client():
  train, _ = load_digits(num_clients=3, method='iid')
  train.examples['y'][1, 0] = 12
  with pytest.raises(DataError, match='digits: client 1 has labels outside'):
    validate(train, 'digits', 10)
