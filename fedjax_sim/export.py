"""A run's global model as one file that loads back with one call.

`export_model(workdir, path)` writes the server parameters of the run's newest
intact checkpoint with what is needed to use them: the run's config, the
number of rounds done, the model's input shape and class names, and for CSV
data the feature names and the standardization of the training rows. The
file is msgpack (`flax.serialization`), a dict:

  format        'fedjax_sim.model/1'
  config        the run's config.json, as a JSON string
  rounds_done   int
  input_shape   one example's shape, e.g. [30] or [8, 8, 1]
  class_names   list of str (the label values of a CSV, else '0', '1', ...)
  feature_names list of str (CSV data; else empty)
  mean, std     float32 [features] (CSV data; else empty)
  params        the model's parameters (flax variables, nested dicts of arrays)

`load_model(path).predict(rows)` returns class probabilities for raw rows
(CSV data: unscaled feature values in `feature_names` order).
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from fedjax_sim.rundir import checkpoint
from fedjax_sim.rundir import runlog
from fedjax_sim.config.files import run_config
from fedjax_sim.config.sections import from_json
from fedjax_sim.core.state import init_state
from fedjax_sim.data.csv_data import Columns, Table, features_of
from fedjax_sim.errors import DataError
from fedjax_sim.models.model import Model
from fedjax_sim.models.registry import get_model
from fedjax_sim.rundir.workdir import CHECKPOINTS

FORMAT = 'fedjax_sim.model/1'


class ExportedModel(NamedTuple):
  """A trained global model and what is needed to use it."""

  model: Model
  params: Any
  config: dict[str, Any]
  rounds_done: int
  input_shape: tuple[int, ...]
  class_names: tuple[str, ...]
  columns: Columns | None  # CSV data: feature names and scaling

  def predict(self, rows: np.ndarray) -> np.ndarray:
    """`[n, classes]` probabilities of raw rows `[n, ...]` (CSV data: feature
    values in `columns.feature_names` order, unscaled)."""
    x = np.asarray(rows, np.float32).reshape((-1,) + self.input_shape)
    if self.columns is not None:
      x = self.columns.standardize(x)
    logits = self.model.apply(self.params, jnp.asarray(x), None)
    return np.asarray(jax.nn.softmax(logits.astype(jnp.float32)), np.float64)


def table_inputs(table: Table, exported: ExportedModel) -> np.ndarray:
  """A table's rows as model inputs (raw values): for CSV data the columns
  named by the model's feature names, in any order (others, such as the
  label, are ignored); else each row is one example's values, flattened."""
  if exported.columns is not None:
    missing = [n for n in exported.columns.feature_names if n not in table.columns]
    if missing:
      raise DataError(f'{table.name} lacks {len(missing)} of the model\'s feature columns: '
                      f'{", ".join(missing[:5])}{", ..." if len(missing) > 5 else ""}')
    return features_of(table, exported.columns.feature_names, label=-1)
  size = int(np.prod(exported.input_shape))
  if len(table.columns) != size:
    raise DataError(f'{table.name}: rows need {size} values (an example of shape '
                    f'{list(exported.input_shape)}, flattened), the header has '
                    f'{len(table.columns)} columns')
  return features_of(table, tuple(table.columns), label=-1)


def from_run(workdir: str) -> ExportedModel:
  """The global model of the newest intact checkpoint in `workdir` (a corrupt
  one is named on stderr and left in place: this only reads the run)."""
  from fedjax_sim.config.experiment import build_experiment  # the run's data, model and algorithm
  config_dict = run_config(os.path.join(workdir, runlog.CONFIG))
  if config_dict is None:
    raise DataError(f'--workdir {workdir!r} holds no run (no {runlog.CONFIG})')
  exp = build_experiment(from_json(config_dict), warn=lambda line: None)
  sample = jnp.asarray(exp.dataset.test['x'][:1])
  params = exp.model.init(jax.random.PRNGKey(0), sample)
  like = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  mgr = checkpoint.manager(os.path.join(workdir, CHECKPOINTS), config_dict['checkpoint']['keep'],
                           create=False)
  restored = checkpoint.restore_latest(mgr, like, set_aside=False)  # reads, moves nothing
  if restored is None:
    raise DataError(f'--workdir {workdir!r} has no intact checkpoint (see the warnings above)'
                    if mgr.all_steps() else f'--workdir {workdir!r} has no checkpoint yet')
  rounds_done, state = restored
  columns = exp.dataset.columns
  class_names = (columns.class_names if columns is not None
                 else tuple(str(c) for c in range(exp.dataset.num_classes)))
  return ExportedModel(exp.model, jax.tree.map(np.asarray, state.server.params), config_dict,
                       rounds_done, tuple(sample.shape[1:]), class_names, columns)


def export_model(workdir: str, path: str) -> ExportedModel:
  """Writes the run's global model to `path` (atomically); returns it."""
  exported = from_run(workdir)
  write_model(exported, path)
  return exported


def write_model(exported: ExportedModel, path: str) -> None:
  """Writes `exported` to `path` (atomically) in the format `load_model` reads."""
  columns = exported.columns
  payload = {
      'format': FORMAT, 'config': json.dumps(exported.config),
      'rounds_done': exported.rounds_done, 'input_shape': list(exported.input_shape),
      'class_names': list(exported.class_names),
      'feature_names': list(columns.feature_names) if columns else [],
      'mean': columns.mean if columns else np.zeros(0, np.float32),
      'std': columns.std if columns else np.zeros(0, np.float32),
      'params': serialization.to_state_dict(exported.params)}
  try:
    runlog.write_atomic(path, serialization.msgpack_serialize(payload))
  except OSError as e:
    raise DataError(f'model file {path!r} cannot be written: {e.strerror or e}') from None


def load_model(path: str) -> ExportedModel:
  """Reads a file `export_model` wrote."""
  try:
    with open(path, 'rb') as f:
      payload = serialization.msgpack_restore(f.read())
  except (OSError, ValueError, TypeError) as e:
    raise DataError(f'model file {path!r} cannot be read: {e}') from None
  if not isinstance(payload, dict) or payload.get('format') != FORMAT:
    raise DataError(f'model file {path!r} is not a {FORMAT} file')
  config = json.loads(payload['config'])
  class_names = tuple(payload['class_names'])
  model = get_model(config['model']['name'], len(class_names),
                    config['model'].get('options', {}))
  columns = (Columns(tuple(payload['feature_names']), class_names,
                     np.asarray(payload['mean']), np.asarray(payload['std']))
             if payload['feature_names'] else None)
  return ExportedModel(model, payload['params'], config, int(payload['rounds_done']),
                       tuple(int(d) for d in payload['input_shape']), class_names, columns)
