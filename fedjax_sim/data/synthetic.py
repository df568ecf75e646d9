"""Synthetic(alpha, beta) from FedProx (Li et al. 2020), generated locally.

Client k draws u_k ~ N(0, alpha) and B_k ~ N(0, beta); its softmax model is
W_k, b_k ~ N(u_k, 1); its inputs are x ~ N(v_k, diag(j^-1.2)) with
v_k ~ N(B_k, 1); labels are argmax(W_k x + b_k). Client sizes follow the paper's
power law (lognormal(4, 2) + 50). Alpha controls model heterogeneity, beta data
heterogeneity.
"""

from __future__ import annotations

import numpy as np

from fedjax_sim.data.federated_data import FederatedData, from_client_arrays

NUM_CLASSES = 10
NUM_FEATURES = 60


def load_synthetic(alpha: float = 0., beta: float = 0., num_clients: int = 30,
                   test_fraction: float = 0.2, seed: int = 0,
                   max_client_size: int = 0
                   ) -> tuple[FederatedData, dict[str, np.ndarray]]:
  """Generates the data; each client keeps `test_fraction` of its examples for
  the centralized test set. `max_client_size` > 0 truncates the power law."""
  rng = np.random.default_rng(seed)
  sizes = rng.lognormal(4, 2, num_clients).astype(int) + 50
  if max_client_size:
    sizes = np.minimum(sizes, max_client_size)
  cov = np.arange(1, NUM_FEATURES + 1) ** -1.2
  clients, test_x, test_y = [], [], []
  for size in sizes:
    u, b = rng.normal(0, np.sqrt(alpha)), rng.normal(0, np.sqrt(beta))
    w = rng.normal(u, 1, (NUM_FEATURES, NUM_CLASSES))
    bias = rng.normal(u, 1, NUM_CLASSES)
    v = rng.normal(b, 1, NUM_FEATURES)
    x = (v + rng.normal(size=(size, NUM_FEATURES)) * np.sqrt(cov)).astype(np.float32)
    y = np.argmax(x @ w + bias, axis=1).astype(np.int32)
    num_test = int(test_fraction * size)
    clients.append({'x': x[num_test:], 'y': y[num_test:]})
    test_x.append(x[:num_test])
    test_y.append(y[:num_test])
  return (from_client_arrays(clients, 'synthetic'),
          {'x': np.concatenate(test_x), 'y': np.concatenate(test_y)})
