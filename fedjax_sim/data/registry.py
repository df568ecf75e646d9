"""Data set names usable from configs (digits and synthetic need no download)."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from fedjax_sim.data import csv_data, digits, synthetic
from fedjax_sim.data.benchmark_data import BENCHMARKS, load_benchmark
from fedjax_sim.data.client_store import ClientStore
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError

DATASETS = ('digits', 'synthetic', 'csv', 'tfds') + BENCHMARKS


class Dataset(NamedTuple):
  train: FederatedData | ClientStore  # a store: only sampled clients are read
  test: dict[str, np.ndarray]
  num_classes: int
  columns: csv_data.Columns | None = None  # tables: feature names, scaling, class names
  client_names: tuple[str, ...] | None = None  # tables with a client column: its values


def load_dataset(cfg: Mapping[str, Any], seed: int) -> Dataset:
  """Loads the data set the `data` config section describes."""
  name = cfg.get('name')
  if name in BENCHMARKS:  # SQLite files; the number of clients is the file's.
    return Dataset(*load_benchmark(cfg, seed))
  if name == 'csv':  # clients from a client-id column, or num_clients by partition
    loaded = csv_data.load_csv(cfg, seed)
    return Dataset(loaded.train, loaded.test, loaded.num_classes, loaded.columns,
                   loaded.client_names)
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
  if name == 'tfds':
    from fedjax_sim.data import tfds_loader  # Lazy: only TFDS runs import it.
    return Dataset(*tfds_loader.load_tfds(
        cfg.get('tfds_name'), num_clients, cfg.get('partition', 'iid'), seed,
        split_train=cfg.get('split_train', 'train'),
        split_test=cfg.get('split_test', 'test'),
        image_key=cfg.get('image_key'), label_key=cfg.get('label_key'),
        alpha=cfg.get('alpha', 0.5),
        shards_per_client=cfg.get('shards_per_client', 2),
        powerlaw_sigma=cfg.get('powerlaw_sigma', 1.),
        data_dir=cfg.get('data_dir'), download=cfg.get('download', False)))
  raise ConfigError(f'data.name must be one of {list(DATASETS)}, got {name!r}')
