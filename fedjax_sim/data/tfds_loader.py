"""Any supervised TFDS data set, partitioned into federated clients.

Reads through `tfds.data_source` (random-access ArrayRecord files, NumPy out), so
neither loading nor the tests need TensorFlow. Preparing a data set from its
download does need it for image data sets (TFDS encodes images with
`tf.image`): run once, with `tensorflow-cpu` installed, e.g.
`tfds build mnist --file_format=array_record`, or set `data.download=True`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable, TypeVar

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from fedjax_sim.data.federated_data import FederatedData, from_client_arrays
from fedjax_sim.data.partition import partition
from fedjax_sim.errors import ConfigError, DataError

F = TypeVar('F', bound=Callable[..., Any])
# What to install for a module TFDS imports only when used (pip's name).
PACKAGES = {'importlib_resources': 'importlib_resources', 'tensorflow': 'tensorflow-cpu'}
LAZY_IMPORTS = ('importlib_resources',)  # TFDS needs them for any data set


def missing_package(error: ModuleNotFoundError) -> str:
  """The one line for a module TFDS needs that is not installed."""
  module = (error.name or 'an unknown module').split('.')[0]
  package = PACKAGES.get(module, module)
  return (f"data.name='tfds' needs the Python package {package!r}, which is not installed "
          f'(No module named {module!r}); install it with `pip install {package}`')


def needs_packages(fn: F) -> F:
  """Turns a module TFDS imports lazily, and finds missing, into a ConfigError."""
  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except ModuleNotFoundError as e:
      if (e.name or '').startswith('fedjax_sim'):
        raise
      raise ConfigError(missing_package(e)) from None
  return wrapped  # type: ignore[return-value]


@needs_packages
def load_tfds(name: str, num_clients: int, method: str = 'iid', seed: int = 0, *,
              split_train: str = 'train', split_test: str = 'test',
              image_key: str | None = None, label_key: str | None = None,
              alpha: float = 0.5, shards_per_client: int = 2,
              powerlaw_sigma: float = 1., data_dir: str | None = None,
              download: bool = False
              ) -> tuple[FederatedData, dict[str, np.ndarray], int]:
  """Loads TFDS `name` and partitions its train split into `num_clients` clients.

  Args:
    name: a TFDS data set name (optionally with config and version).
    num_clients: number of clients the train split is dealt to.
    method: the partitioner (`fedjax_sim.data.partition.PARTITIONS`).
    seed: seeds the partition.
    split_train, split_test: TFDS split names (slicing such as 'train[:10%]' works).
    image_key, label_key: input and label features; default: the data set's
      supervised keys. The label must be a `ClassLabel`.
    alpha, shards_per_client, powerlaw_sigma: the partitioners' parameters.
    data_dir: where the prepared data lives (TFDS's default if None).
    download: download and prepare the data set if it is not there yet.

  Returns:
    `(train, test, num_classes)`: padded client data with `x` float32 (integer
    inputs scaled by their dtype's maximum into [0, 1], float inputs unchanged)
    and int32 `y`, the centralized test set `{'x', 'y'}`, and the label count.
  """
  for module in LAZY_IMPORTS:  # now, not halfway through a download
    importlib.import_module(module)
  builder = _builder(name, data_dir)
  image_key, label_key = _feature_keys(builder, name, image_key, label_key)
  label = builder.info.features[label_key]
  if not isinstance(label, tfds.features.ClassLabel):
    raise ConfigError(f'data.label_key={label_key!r} of TFDS data set {name!r} must '
                      f'be a ClassLabel, got {type(label).__name__}')
  num_classes = label.num_classes
  x, y = _read_split(name, split_train, 'data.split_train', image_key, label_key,
                     data_dir, download)
  test_x, test_y = _read_split(name, split_test, 'data.split_test', image_key,
                               label_key, data_dir, download)
  parts = partition(y, num_clients, method, alpha, np.random.default_rng(seed),
                    shards_per_client=shards_per_client,
                    powerlaw_sigma=powerlaw_sigma)
  train = from_client_arrays([{'x': x[p], 'y': y[p]} for p in parts], f'tfds:{name}')
  return train, {'x': test_x, 'y': test_y}, num_classes


@needs_packages
def is_prepared(name: str, data_dir: str | None = None) -> bool:
  """Whether TFDS data set `name` is prepared as ArrayRecord files under
  `data_dir` (TFDS's default if None), so it loads without a download."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # TFDS warns about a missing folder
  try:
    builder = _builder(name, data_dir)
    return bool(builder.is_prepared()) and (
        builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD)
  finally:
    logging.set_verbosity(verbosity)


def _builder(name: str, data_dir: str | None) -> Any:
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as error:
    raise ConfigError(f'data.tfds_name={name!r} is not a TFDS data set') from error


def _feature_keys(builder: Any, name: str, image_key: str | None,
                  label_key: str | None) -> tuple[str, str]:
  """Resolves the input and label feature names, defaulting to supervised keys."""
  supervised = builder.info.supervised_keys
  if image_key is None or label_key is None:
    if not (isinstance(supervised, tuple) and len(supervised) == 2
            and all(isinstance(k, str) for k in supervised)):
      raise ConfigError(f'data.image_key and data.label_key must be set: TFDS data '
                        f'set {name!r} has no (input, label) supervised keys')
    image_key = image_key or supervised[0]
    label_key = label_key or supervised[1]
  features = list(builder.info.features)
  for field, key in (('data.image_key', image_key), ('data.label_key', label_key)):
    if key not in features:
      raise ConfigError(f'{field}={key!r} is not a feature of TFDS data set '
                        f'{name!r}; it has {features}')
  return image_key, label_key


def _read_split(name: str, split: str, field: str, image_key: str, label_key: str,
                data_dir: str | None, download: bool
                ) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split into `(x float32, y int32)` arrays."""
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=download)
  except (ValueError, KeyError) as error:
    raise ConfigError(f'{field}={split!r} cannot be read from TFDS data set '
                      f'{name!r}: {error}') from error
  except NotImplementedError as error:
    raise DataError(
        f'tfds:{name}: no ArrayRecord files of it under data.data_dir='
        f'{data_dir!r}; set data.download=True or run `tfds build {name} '
        '--file_format=array_record` first') from error
  records = [source[i] for i in range(len(source))]
  x = np.stack([np.asarray(r[image_key]) for r in records])
  y = np.array([r[label_key] for r in records], np.int32)
  return _to_unit_float(x), y


def _to_unit_float(x: np.ndarray) -> np.ndarray:
  """Integer inputs scaled by the dtype's maximum into [0, 1]; others cast."""
  if np.issubdtype(x.dtype, np.integer):
    return (x / np.iinfo(x.dtype).max).astype(np.float32)
  return x.astype(np.float32)
