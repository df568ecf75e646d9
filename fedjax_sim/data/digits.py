"""The embedded default data set: scikit-learn's bundled 8x8 digits (no download)."""

from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

from fedjax_sim.data.federated_data import FederatedData, from_client_arrays
from fedjax_sim.data.partition import partition

NUM_CLASSES = 10


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's bundled digits file (1,797 rows of 64 pixels, 0-16, and
  a label), as `sklearn.datasets.load_digits` reads it, but without importing
  scikit-learn (over a second of every run's start-up)."""
  package = importlib.util.find_spec('sklearn').submodule_search_locations[0]
  with gzip.open(os.path.join(package, 'datasets', 'data', 'digits.csv.gz'), 'rt') as f:
    data = np.loadtxt(f, delimiter=',')
  return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int32)


def load_digits(num_clients: int = 20, method: str = 'dirichlet',
                alpha: float = 0.5, test_fraction: float = 0.2,
                seed: int = 0) -> tuple[FederatedData, dict[str, np.ndarray]]:
  """Splits digits into a held-out test set and `num_clients` training clients.

  Returns:
    `(train, test)`: padded client data with `x` `[clients, n, 8, 8, 1]` in
    [0, 1] and `y` labels, and the centralized test set `{'x', 'y'}`.
  """
  images, y = bundled_digits()
  x = (images / 16.).astype(np.float32)[..., None]
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(y))
  num_test = int(round(test_fraction * len(y)))
  test_idx, train_idx = order[:num_test], order[num_test:]
  parts = partition(y[train_idx], num_clients, method, alpha, rng)
  clients = [{'x': x[train_idx[p]], 'y': y[train_idx[p]]} for p in parts]
  return (from_client_arrays(clients, 'digits'),
          {'x': x[test_idx], 'y': y[test_idx]})
