"""Data set names usable from configs (digits and synthetic need no download)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fedjax_sim.data import csv_data, digits, synthetic
from fedjax_sim.data.benchmark_data import BENCHMARKS, load_benchmark
from fedjax_sim.data.client_store import ClientStore
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError

DATASETS = ('digits', 'synthetic', 'csv', 'tfds') + BENCHMARKS


class Dataset(NamedTuple):
  train: FederatedData | ClientStore  # a store: only sampled clients are read
  test: dict[str, np.ndarray]
  num_classes: int
  columns: csv_data.Columns | None = None  # tables: feature names, scaling, class names
  client_names: tuple[str, ...] | None = None  # tables with a client column: its values


def load_dataset(settings: DataSettings, seed: int) -> Dataset:
  """Loads the data set `settings` (the typed `data` section) describe."""
  name = settings.name
  if name in BENCHMARKS:  # SQLite files; the number of clients is the file's.
    return Dataset(*load_benchmark(settings, seed))
  if name == 'csv':  # clients from a client-id column, or num_clients by partition
    loaded = csv_data.load_csv(settings, seed)
    return Dataset(loaded.train, loaded.test, loaded.num_classes, loaded.columns,
                   loaded.client_names)
  num_clients = settings.num_clients
  if not (isinstance(num_clients, int) and num_clients >= 1):
    raise ConfigError(f'data.num_clients must be an integer >= 1, got {num_clients!r}')
  if name == 'digits':
    train, test = digits.load_digits(num_clients, settings.partition, settings.alpha,
                                     settings.test_fraction, seed)
    return Dataset(train, test, digits.NUM_CLASSES)
  if name == 'synthetic':
    train, test = synthetic.load_synthetic(settings.alpha, settings.beta, num_clients,
                                           settings.test_fraction, seed,
                                           settings.max_client_size)
    return Dataset(train, test, synthetic.NUM_CLASSES)
  if name == 'tfds':
    if not settings.tfds_name:
      raise ConfigError("data.tfds_name must name a TFDS data set with data.name='tfds', "
                        "got ''")
    from fedjax_sim.data import tfds_loader  # Lazy: only TFDS runs import it.
    return Dataset(*tfds_loader.load_tfds(
        settings.tfds_name, num_clients, settings.partition, seed,
        split_train=settings.split_train, split_test=settings.split_test,
        image_key=settings.image_key, label_key=settings.label_key, alpha=settings.alpha,
        shards_per_client=settings.shards_per_client,
        powerlaw_sigma=settings.powerlaw_sigma, data_dir=settings.data_dir,
        download=settings.download))
  raise ConfigError(f'data.name must be one of {list(DATASETS)}, got {name!r}')
