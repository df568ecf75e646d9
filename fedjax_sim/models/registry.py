"""Model names usable from configs."""

from __future__ import annotations

import functools
import importlib
from typing import Any, Mapping

from fedjax_sim.core.rules import is_int
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.char_lstm import LSTMLanguageModel
from fedjax_sim.models.cnn import EmnistCNN
from fedjax_sim.models.lenet import LeNet5
from fedjax_sim.models.linear import LogisticRegression
from fedjax_sim.models.mlp import MLP
from fedjax_sim.models.model import Model, from_flax
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
}
# flax NNX models (`from_nnx`), imported when asked for: flax.nnx takes a second to load.
NNX_MODELS = {'mlp_nnx': 'fedjax_sim.models.mlp_nnx'}
# The task of each model not scored as single-label classification.
TASKS = {'char_lstm': NextToken, 'nwp_lstm': NextToken, 'transformer': NextToken,
         'tag_logreg': MultiLabel}




def _widths(value: Any) -> bool:
  """Whether `value` is a sequence of integers >= 1 (layer widths)."""
  return isinstance(value, (tuple, list)) and all(is_int(v) and v >= 1 for v in value)


# Model options checked before any model is built: (option, accepted, what is expected).
OPTION_RULES = (
    ('hidden', _widths, 'a sequence of integers >= 1 (the hidden layer widths)'),
)


def check_options(options: Mapping[str, Any]) -> None:
  """A ConfigError `model.options.<option> must be ...` for the first option
  of `options` its rule does not accept."""
  for option, accepted, expected in OPTION_RULES:
    if option in options and not accepted(options[option]):
      raise ConfigError(f'model.options.{option} must be {expected}, '
                        f'got {options[option]!r}')


def model_names() -> list[str]:
  """Names of the models selectable from a config."""
  return sorted({**MODELS, **NNX_MODELS})


def get_model(name: str, num_classes: int,
              options: Mapping[str, Any] | None = None) -> Model:
  """Builds model `name` with `num_classes` outputs and module `options`; the
  `task` option (a mapping) configures its task, e.g. `{'unscored': (87, 88,
  89)}` for next-token models or `{'top_k': 5}` for `tag_logreg`."""
  if name not in model_names():
    raise ConfigError(f'model.name must be one of {model_names()}, got {name!r}')
  options = dict(options or {})
  check_options(options)
  task_options = dict(options.pop('task', None) or {})
  try:
    module = (MODELS[name] if name in MODELS else importlib.import_module(
        NNX_MODELS[name]).build)(num_classes=num_classes, **options)
  except TypeError as e:
    raise ConfigError(f'model options {options} do not fit model {name!r}: {e}') from None
  try:
    task = TASKS.get(name, Classification)(**task_options)
  except TypeError as e:
    raise ConfigError(f'model.options.task {task_options} does not fit model '
                      f'{name!r}: {e}') from None
  if name in NNX_MODELS:
    from fedjax_sim.models.nnx_model import from_nnx  # noqa: PLC0415 (lazy: see NNX_MODELS)
    return from_nnx(module, num_classes, task)
  return from_flax(module, num_classes, task)
