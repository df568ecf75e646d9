"""The benchmark workloads, defined once for every system (NumPy only, so the
peers' virtual environments can import it).

Client sizes (`SIZES`):
- `equal`: every client holds `STEPS * BATCH` examples and runs `STEPS` local
  SGD steps of batch `BATCH`.
- `ragged`: heavy-tailed sizes as in real federated data (LEAF/TFF EMNIST,
  Shakespeare, StackOverflow): LogNormal(mu, 1.1) with mean about 80
  examples (of 1,000 clients: mean 76, median 44, largest 1,436), at least
  1; every client runs one epoch of batch 10, so its steps are
  ceil(size / batch) (`RAGGED`).
- `emnist`: EMNIST-like writers (Reddi et al. 2021 / TFF EMNIST-62: 3,400
  writers, 671,585 training examples, mean 198): the first `clients` of a
  population of 3,400 LogNormal sizes (`RAGGED['emnist']`) with mean about 200;
  one epoch of batch 20 (Reddi et al.'s EMNIST setting).
- `shakespeare`: Shakespeare-like speakers (TFF/LEAF: 715 speakers, 16,068
  lines, each one sequence of `SEQUENCE` characters): the first `clients` of
  a population of 715 LogNormal sizes (`RAGGED['shakespeare']`) with mean about 22 sequences and a
  heavy tail; one epoch of batch 4 (Reddi et al.'s Shakespeare setting).
- `flat`: the same number of clients and (up to rounding) the same total
  steps as `ragged`, every client the same size: what `ragged` would cost
  if the sizes were equal.
- `whole`: for checking systems against each other, not for timing: sizes
  cycle through `WHOLE_SIZES`, each a divisor of the batch `WHOLE_BATCH`;
  `WHOLE_EPOCHS` epochs (1 to 3 steps a client). Every batch then holds whole
  passes over its client's data (a system that fills a short last batch with
  further examples, like FedJAX, fills it with whole passes too), so a round
  does not depend on the order in which each system shuffles the examples
  (`tests/test_peer_equivalence.py`; start from `initial_params`).

Learning rate `LR`; the server averages the client models weighted by
example count (FedAvg, server learning rate 1).

- `logistic`: multinomial logistic regression, 60 features -> 10 classes, on
  Synthetic(1, 1) (Li et al. 2020) with a fixed client size.
- `mlp`: 784-200-10 MLP with ReLU.
- `cnn`: the EMNIST CNN of FedJAX / Reddi et al. 2021 on 28x28x1 inputs:
  conv3x3(32) - conv3x3(64) - maxpool2 - dropout 0.25 - dense(128) -
  dropout 0.5 - dense(62).
- `lstm`: the Shakespeare character LSTM of FedJAX / Reddi et al. 2021:
  embedding 8 of a vocabulary of 90 (86 characters, pad, BOS, EOS, OOV), two
  LSTM layers of 256, dense(90); next-character loss at each of the `SEQUENCE`
  positions of an example (token ids 1..86, no padding, so every system's
  padding mask is all ones).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

STEPS, BATCH, LR = 10, 20, 0.05
EXAMPLES = STEPS * BATCH
SEQUENCE, VOCAB = 80, 90


class Ragged(NamedTuple):
  """A heavy-tailed size distribution: LogNormal(mu, `sigma`) with mean
  about `mean` examples, at least 1; clients run one epoch of `batch`;
  `population` is how many clients it has (0: any number)."""

  mean: float
  sigma: float
  batch: int
  population: int = 0


RAGGED = {'ragged': Ragged(80, 1.1, 10), 'emnist': Ragged(200, 0.6, 20, 3400),
          'shakespeare': Ragged(22, 1.4, 4, 715)}
WHOLE_SIZES, WHOLE_BATCH, WHOLE_EPOCHS = (5, 8, 10, 20, 40), 40, 3
SIZES = ('equal', 'ragged', 'flat', 'whole', 'emnist', 'shakespeare')
# name -> (input shape of one example, number of classes)
SHAPES = {'logistic': ((60,), 10), 'mlp': ((784,), 10), 'cnn': ((28, 28, 1), 62),
          'lstm': ((SEQUENCE,), VOCAB)}
# The shape of one example's label (the LSTM's: the next character at each position).
LABEL_SHAPES = {'lstm': (SEQUENCE,)}
# Trainable parameters of each model (checked by every system; an LSTM's
# input and hidden biases, which PyTorch keeps apart, count once).
NUM_PARAMS = {'logistic': 60 * 10 + 10,
              'mlp': 784 * 200 + 200 + 200 * 10 + 10,
              'cnn': 9 * 32 + 32 + 9 * 32 * 64 + 64 + 9216 * 128 + 128 + 128 * 62 + 62,
              'lstm': VOCAB * 8 + (8 + 256 + 1) * 1024 + (256 + 256 + 1) * 1024
                      + 256 * VOCAB + VOCAB}
WORKLOADS = tuple(SHAPES)
# (inputs, outputs) of each dense layer, input to output, of the workloads
# whose parameters `initial_params` gives.
DENSE_LAYERS = {'logistic': ((60, 10),), 'mlp': ((784, 200), (200, 10))}


def check_workload(name: str) -> None:
  if name not in SHAPES:
    raise ValueError(f'--workload must be one of {list(WORKLOADS)}, got {name!r}')


class Schedule(NamedTuple):
  """Local training of a workload's clients: `steps` fixed steps of `batch`,
  or (steps None) `epochs` passes over each client's data."""

  batch: int
  epochs: int | None
  steps: int | None


def schedule(sizes: str) -> Schedule:
  check_sizes(sizes)
  if sizes == 'whole':
    return Schedule(WHOLE_BATCH, WHOLE_EPOCHS, None)
  if sizes == 'equal':
    return Schedule(BATCH, None, STEPS)
  return Schedule(RAGGED['ragged' if sizes == 'flat' else sizes].batch, 1, None)


def check_sizes(sizes: str) -> None:
  if sizes not in SIZES:
    raise ValueError(f'--sizes must be one of {list(SIZES)}, got {sizes!r}')


def client_sizes(sizes: str, clients: int, seed: int = 0) -> np.ndarray:
  """int `[clients]`: each client's number of examples."""
  check_sizes(sizes)
  if sizes == 'equal':
    return np.full(clients, EXAMPLES, np.int64)
  if sizes == 'whole':
    return np.resize(np.array(WHOLE_SIZES, np.int64), clients)
  if sizes != 'flat':
    return lognormal_sizes(RAGGED[sizes], clients, seed)
  ragged = lognormal_sizes(RAGGED['ragged'], clients, seed)
  steps = max(1, round(client_steps(ragged, schedule('ragged')).sum() / clients))
  return np.full(clients, steps * RAGGED['ragged'].batch, np.int64)


def lognormal_sizes(dist: Ragged, clients: int, seed: int = 0) -> np.ndarray:
  """int `[clients]`: the first `clients` sizes of `dist`'s population."""
  if dist.population and clients > dist.population:
    raise ValueError(f'--clients must be at most {dist.population} for these sizes '
                     f'(the population), got {clients}')
  mu = np.log(dist.mean) - dist.sigma ** 2 / 2
  draws = np.random.default_rng([seed, 1]).lognormal(mu, dist.sigma, dist.population or clients)
  return np.maximum(1, np.round(draws[:clients])).astype(np.int64)


def client_steps(counts: np.ndarray, plan: Schedule) -> np.ndarray:
  """The local steps each client really runs."""
  if plan.steps is not None:
    return np.where(counts > 0, plan.steps, 0)
  return -(-plan.epochs * counts // plan.batch)


def _synthetic_client(rng: np.random.Generator, examples: int, alpha: float = 1.,
                      beta: float = 1.):
  """One Synthetic(alpha, beta) client of `examples` examples."""
  features, classes = 60, 10
  u, b = rng.normal(0, np.sqrt(alpha)), rng.normal(0, np.sqrt(beta))
  w = rng.normal(u, 1, (features, classes))
  bias = rng.normal(u, 1, classes)
  v = rng.normal(b, 1, features)
  cov = np.arange(1, features + 1) ** -1.2
  x = v + rng.normal(size=(examples, features)) * np.sqrt(cov)
  return x.astype(np.float32), np.argmax(x @ w + bias, axis=1).astype(np.int32)


def make_data(name: str, clients: int, seed: int = 0,
              sizes: str = 'equal') -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`x [clients, max size, *shape]` (float32; int32 token ids for `lstm`)
  and `y [clients, max size, *label shape]` int32, zero past each client's
  size, and the sizes `counts [clients]`."""
  check_workload(name)
  counts = client_sizes(sizes, clients, seed)
  shape, classes = SHAPES[name]
  x = np.zeros((clients, counts.max()) + shape, np.int32 if name == 'lstm' else np.float32)
  y = np.zeros((clients, counts.max()) + LABEL_SHAPES.get(name, ()), np.int32)
  rng = np.random.default_rng(seed)
  for c, n in enumerate(counts):
    if name == 'logistic':
      x[c, :n], y[c, :n] = _synthetic_client(rng, n)
    elif name == 'lstm':  # characters 1..86: no padding, BOS, EOS or OOV
      text = rng.integers(1, VOCAB - 3, (n, SEQUENCE + 1), dtype=np.int32)
      x[c, :n], y[c, :n] = text[:, :-1], text[:, 1:]
    else:
      x[c, :n] = rng.standard_normal((n,) + shape, dtype=np.float32)
      y[c, :n] = rng.integers(0, classes, n)
  return x, y, counts.astype(np.int32)


def initial_params(name: str, seed: int = 0) -> dict[str, np.ndarray]:
  """The same starting parameters for every system (the workers'
  `--dump_params`): float32 `dense{i}/kernel [inputs, outputs]` (LeCun
  normal) and `dense{i}/bias` (nonzero, so a mix-up of biases shows), layer
  `i` counted from the input; for the dense-only workloads (`DENSE_LAYERS`)."""
  if name not in DENSE_LAYERS:
    raise ValueError(f'initial_params: --workload must be one of {list(DENSE_LAYERS)}, '
                     f'got {name!r}')
  rng = np.random.default_rng([seed, 2])
  params = {}
  for i, (inputs, outputs) in enumerate(DENSE_LAYERS[name]):
    params[f'dense{i}/kernel'] = (rng.standard_normal((inputs, outputs))
                                  / np.sqrt(inputs)).astype(np.float32)
    params[f'dense{i}/bias'] = (0.1 * rng.standard_normal(outputs)).astype(np.float32)
  return params


def save_data(name: str, clients: int, directory: str, seed: int = 0,
              sizes: str = 'equal') -> str:
  """Writes `make_data` as `x.npy`, `y.npy` and `counts.npy` under `directory`
  (for systems whose clients live in other processes and memory-map it);
  returns it."""
  x, y, counts = make_data(name, clients, seed, sizes)
  os.makedirs(directory, exist_ok=True)
  for key, value in (('x', x), ('y', y), ('counts', counts)):
    np.save(os.path.join(directory, f'{key}.npy'), value)
  return directory
