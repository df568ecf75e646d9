"""The benchmark workloads, defined once for every system (NumPy only, so the
peers' virtual environments can import it).

Every client holds `STEPS * BATCH` examples and runs `STEPS` local SGD steps
of batch `BATCH` (no shuffling), learning rate `LR`; the server averages the
client models weighted by example count (FedAvg, server learning rate 1).

- `logistic`: multinomial logistic regression, 60 features -> 10 classes, on
  Synthetic(1, 1) (Li et al. 2020) with a fixed client size.
- `mlp`: 784-200-10 MLP with ReLU.
- `cnn`: the EMNIST CNN of FedJAX / Reddi et al. 2021 on 28x28x1 inputs:
  conv3x3(32) - conv3x3(64) - maxpool2 - dropout 0.25 - dense(128) -
  dropout 0.5 - dense(62).
"""

from __future__ import annotations

import os

import numpy as np

STEPS, BATCH, LR = 10, 20, 0.05
EXAMPLES = STEPS * BATCH
# name -> (input shape of one example, number of classes)
SHAPES = {'logistic': ((60,), 10), 'mlp': ((784,), 10), 'cnn': ((28, 28, 1), 62)}
# Trainable parameters of each model (checked by every system).
NUM_PARAMS = {'logistic': 60 * 10 + 10,
              'mlp': 784 * 200 + 200 + 200 * 10 + 10,
              'cnn': 9 * 32 + 32 + 9 * 32 * 64 + 64 + 9216 * 128 + 128 + 128 * 62 + 62}
WORKLOADS = tuple(SHAPES)


def check_workload(name: str) -> None:
  if name not in SHAPES:
    raise ValueError(f'--workload must be one of {list(WORKLOADS)}, got {name!r}')


def _synthetic_client(rng: np.random.Generator, alpha: float = 1., beta: float = 1.):
  """One Synthetic(alpha, beta) client of `EXAMPLES` examples."""
  features, classes = 60, 10
  u, b = rng.normal(0, np.sqrt(alpha)), rng.normal(0, np.sqrt(beta))
  w = rng.normal(u, 1, (features, classes))
  bias = rng.normal(u, 1, classes)
  v = rng.normal(b, 1, features)
  cov = np.arange(1, features + 1) ** -1.2
  x = v + rng.normal(size=(EXAMPLES, features)) * np.sqrt(cov)
  return x.astype(np.float32), np.argmax(x @ w + bias, axis=1).astype(np.int32)


def make_data(name: str, clients: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """`x [clients, EXAMPLES, *shape]` float32 and `y [clients, EXAMPLES]` int32."""
  check_workload(name)
  rng = np.random.default_rng(seed)
  if name == 'logistic':
    pairs = [_synthetic_client(rng) for _ in range(clients)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
  shape, classes = SHAPES[name]
  x = rng.standard_normal((clients, EXAMPLES) + shape, dtype=np.float32)
  return x, rng.integers(0, classes, (clients, EXAMPLES)).astype(np.int32)


def save_data(name: str, clients: int, directory: str, seed: int = 0) -> str:
  """Writes `make_data` as `x.npy` / `y.npy` under `directory` (for systems
  whose clients live in other processes and memory-map it); returns it."""
  x, y = make_data(name, clients, seed)
  os.makedirs(directory, exist_ok=True)
  np.save(os.path.join(directory, 'x.npy'), x)
  np.save(os.path.join(directory, 'y.npy'), y)
  return directory
