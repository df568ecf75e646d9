"""Model names usable from configs."""

from __future__ import annotations

from typing import Any, Mapping

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.cnn import EmnistCNN
from fedjax_sim.models.linear import LogisticRegression
from fedjax_sim.models.mlp import MLP
from fedjax_sim.models.model import Model, from_flax

MODELS = {'logistic': LogisticRegression, 'mlp': MLP, 'cnn': EmnistCNN}


def get_model(name: str, num_classes: int,
              options: Mapping[str, Any] | None = None) -> Model:
  """Builds model `name` with `num_classes` outputs and module `options`."""
  if name not in MODELS:
    raise ConfigError(f'model.name must be one of {sorted(MODELS)}, got {name!r}')
  try:
    module = MODELS[name](num_classes=num_classes, **dict(options or {}))
  except TypeError as e:
    raise ConfigError(f'model options {dict(options or {})} do not fit model '
                      f'{name!r}: {e}') from None
  return from_flax(module, num_classes)
