"""Optax optimizers by config: `{name, learning_rate, momentum, b1, b2, eps,
initial_accumulator}` (the last for adagrad and yogi)."""

from __future__ import annotations

from typing import Any, Mapping

import optax

from fedjax_sim.errors import ConfigError


def make_optimizer(cfg: Mapping[str, Any], field: str) -> optax.GradientTransformation:
  """Builds the optax optimizer that `cfg` (the config at `field`) describes."""
  name, lr = cfg.get('name', 'sgd'), cfg.get('learning_rate', 0.)
  if not lr > 0:
    raise ConfigError(f'{field}.learning_rate must be > 0, got {lr}')
  momentum = cfg.get('momentum', 0.) or None
  b1, b2, eps = cfg.get('b1', 0.9), cfg.get('b2', 0.999), cfg.get('eps', 1e-8)
  initial = cfg.get('initial_accumulator', None)
  builders = {
      'sgd': lambda: optax.sgd(lr, momentum=momentum),
      'adam': lambda: optax.adam(lr, b1=b1, b2=b2, eps=eps),
      'adagrad': lambda: optax.adagrad(lr, eps=eps, initial_accumulator_value=(
          0.1 if initial is None else initial)),
      'yogi': lambda: optax.chain(
          optax.scale_by_yogi(b1=b1, b2=b2, eps=eps, initial_accumulator_value=(
              1e-6 if initial is None else initial)),
          optax.scale_by_learning_rate(lr)),
  }
  if name not in builders:
    raise ConfigError(f'{field}.name must be one of {sorted(builders)}, got {name!r}')
  return builders[name]()
