"""The typed `data` settings: the source's `name` and every source's fields,
each with its one default (`fedjax_sim.data.registry.load_dataset`)."""

from __future__ import annotations

from typing import NamedTuple


class DataSettings(NamedTuple):
  """`config.data`.

  Attributes:
    name: `digits`, `synthetic`, `csv`, `tfds` or a benchmark
      (`fedjax_sim.data.benchmark_data.BENCHMARKS`).
    num_clients: clients of digits, synthetic and tfds, and of a csv table
      without a client column.
    partition: how digits, tfds and csv rows are dealt to clients (`iid`,
      `dirichlet`, `shards`, `powerlaw`; `fedjax_sim.data.partition`).
    alpha: the Dirichlet concentration; synthetic: the model heterogeneity.
    test_fraction: the share of digits, synthetic and csv examples held out
      as the centralized test set.
    beta: synthetic's data heterogeneity.
    max_client_size: synthetic's cap on the power-law client sizes (0: none).
    tfds_name: the TFDS data set (with config and version, optional).
    split_train, split_test: its TFDS splits.
    image_key, label_key: its input and label features (None: its
      supervised keys).
    shards_per_client, powerlaw_sigma: tfds's `shards` and `powerlaw`
      partitions.
    data_dir: where TFDS data lives (None: TFDS's default).
    download: download and prepare a TFDS data set that is not there.
    path: the csv file (or `sklearn:breast_cancer`); a benchmark's directory.
    label: the csv label column.
    features: the csv feature columns (empty: all but label and client column).
    client_column: the csv client-id column (empty: `partition`).
    min_client_rows: fewest training rows a csv client may have.
    train_file, test_file: a benchmark's files, relative to `path` or
      absolute (empty: `benchmark_data.FILES`).
    cache_dir: where a benchmark's stores are kept (empty: under `path`).
    sequence_length: shakespeare's and stackoverflow's (0: 80 and 20).
    max_client_examples: a benchmark client's first rows kept (0: all).
    test_clients: benchmark test clients in the centralized test set (0: all).
    task: stackoverflow's `nwp` (next word) or `tags`.
    vocab_size: stackoverflow's `nwp` vocabulary.
    bow_vocab_size: stackoverflow's `tags` bag-of-words vocabulary.
    bow_max_words: (word, weight) pairs per `tags` post (0: exact).
    num_tags: stackoverflow's tags.
    vocab_file, tags_file: stackoverflow's vocabularies as files (empty:
      counted from the train split).
    seed: the seed of the partition, the test split and synthetic's draws
      (None: the run's `seed`); set it to keep the data fixed while a sweep
      varies `seed` (`fedjax_sim.config.sweep`).
  """

  name: str = 'digits'
  num_clients: int = 20
  partition: str = 'dirichlet'
  alpha: float = 0.5
  test_fraction: float = 0.2
  beta: float = 0.
  max_client_size: int = 0
  tfds_name: str = ''
  split_train: str = 'train'
  split_test: str = 'test'
  image_key: str | None = None
  label_key: str | None = None
  shards_per_client: int = 2
  powerlaw_sigma: float = 1.
  data_dir: str | None = None
  download: bool = False
  path: str = ''
  label: str = ''
  features: tuple[str, ...] = ()
  client_column: str = ''
  min_client_rows: int = 2
  train_file: str = ''
  test_file: str = ''
  cache_dir: str = ''
  sequence_length: int = 0
  max_client_examples: int = 0
  test_clients: int = 0
  task: str = 'nwp'
  vocab_size: int = 10000
  bow_vocab_size: int = 10000
  bow_max_words: int = 0
  num_tags: int = 500
  vocab_file: str = ''
  tags_file: str = ''
  seed: int | None = None
