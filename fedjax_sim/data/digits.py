"""The embedded default data set: scikit-learn's bundled 8x8 digits (no download)."""

from __future__ import annotations

import numpy as np

from fedjax_sim.data.federated_data import FederatedData, from_client_arrays
from fedjax_sim.data.partition import partition

NUM_CLASSES = 10


def load_digits(num_clients: int = 20, method: str = 'dirichlet',
                alpha: float = 0.5, test_fraction: float = 0.2,
                seed: int = 0) -> tuple[FederatedData, dict[str, np.ndarray]]:
  """Splits digits into a held-out test set and `num_clients` training clients.

  Returns:
    `(train, test)`: padded client data with `x` `[clients, n, 8, 8, 1]` in
    [0, 1] and `y` labels, and the centralized test set `{'x', 'y'}`.
  """
  from sklearn import datasets  # imported here: it takes most of a second
  bunch = datasets.load_digits()
  x = (bunch.images / 16.).astype(np.float32)[..., None]
  y = bunch.target.astype(np.int32)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(y))
  num_test = int(round(test_fraction * len(y)))
  test_idx, train_idx = order[:num_test], order[num_test:]
  parts = partition(y[train_idx], num_clients, method, alpha, rng)
  clients = [{'x': x[train_idx[p]], 'y': y[train_idx[p]]} for p in parts]
  return (from_client_arrays(clients, 'digits'),
          {'x': x[test_idx], 'y': y[test_idx]})
