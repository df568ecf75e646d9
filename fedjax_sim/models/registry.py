"""Model names usable from configs."""

from __future__ import annotations

import functools
from typing import Any, Mapping

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.char_lstm import LSTMLanguageModel
from fedjax_sim.models.cnn import EmnistCNN
from fedjax_sim.models.lenet import LeNet5
from fedjax_sim.models.linear import LogisticRegression
from fedjax_sim.models import mlp_nnx
from fedjax_sim.models.mlp import MLP
from fedjax_sim.models.model import Model, from_flax
from fedjax_sim.models.nnx_model import from_nnx
from fedjax_sim.models.resnet18_gn import ResNet18GN
from fedjax_sim.models.tag_logreg import TagLogisticRegression
from fedjax_sim.models.tasks import Classification, MultiLabel, NextToken
from fedjax_sim.models.transformer import Transformer

MODELS = {
    'logistic': LogisticRegression, 'mlp': MLP, 'cnn': EmnistCNN, 'lenet5': LeNet5,
    'resnet18_gn': ResNet18GN, 'char_lstm': LSTMLanguageModel,
    'nwp_lstm': functools.partial(LSTMLanguageModel, embed_dim=96,
                                  hidden=(670,), projection=96),
    'transformer': Transformer, 'tag_logreg': TagLogisticRegression,
    'mlp_nnx': mlp_nnx.build,  # flax NNX (`from_nnx`); the others are linen
}
NNX = ('mlp_nnx',)
# The task of each model not scored as single-label classification.
TASKS = {'char_lstm': NextToken, 'nwp_lstm': NextToken, 'transformer': NextToken,
         'tag_logreg': MultiLabel}


def get_model(name: str, num_classes: int,
              options: Mapping[str, Any] | None = None) -> Model:
  """Builds model `name` with `num_classes` outputs and module `options`; the
  `task` option (a mapping) configures its task, e.g. `{'unscored': (87, 88,
  89)}` for next-token models or `{'top_k': 5}` for `tag_logreg`."""
  if name not in MODELS:
    raise ConfigError(f'model.name must be one of {sorted(MODELS)}, got {name!r}')
  options = dict(options or {})
  task_options = dict(options.pop('task', None) or {})
  try:
    module = MODELS[name](num_classes=num_classes, **options)
  except TypeError as e:
    raise ConfigError(f'model options {options} do not fit model {name!r}: {e}') from None
  try:
    task = TASKS.get(name, Classification)(**task_options)
  except TypeError as e:
    raise ConfigError(f'model.options.task {task_options} does not fit model '
                      f'{name!r}: {e}') from None
  return (from_nnx if name in NNX else from_flax)(module, num_classes, task)
