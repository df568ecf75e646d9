"""Data set names usable from configs (all generated or embedded: no download)."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from fedjax_sim.data import digits, synthetic
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError

DATASETS = ('digits', 'synthetic')


class Dataset(NamedTuple):
  train: FederatedData
  test: dict[str, np.ndarray]
  num_classes: int


def load_dataset(cfg: Mapping[str, Any], seed: int) -> Dataset:
  """Loads the data set the `data` config section describes."""
  name = cfg.get('name')
  num_clients = cfg.get('num_clients', 0)
  if not (isinstance(num_clients, int) and num_clients >= 1):
    raise ConfigError(f'data.num_clients must be an integer >= 1, got {num_clients!r}')
  if name == 'digits':
    train, test = digits.load_digits(num_clients, cfg.get('partition', 'dirichlet'),
                                     cfg.get('alpha', 0.5),
                                     cfg.get('test_fraction', 0.2), seed)
    return Dataset(train, test, digits.NUM_CLASSES)
  if name == 'synthetic':
    train, test = synthetic.load_synthetic(
        cfg.get('alpha', 0.), cfg.get('beta', 0.), num_clients,
        cfg.get('test_fraction', 0.2), seed, cfg.get('max_client_size', 0))
    return Dataset(train, test, synthetic.NUM_CLASSES)
  raise ConfigError(f'data.name must be one of {list(DATASETS)}, got {name!r}')
