"""Optax optimizers from typed settings (`client.optimizer`,
`server.optimizer` of a config)."""

from __future__ import annotations

from typing import NamedTuple

import optax

from fedjax_sim.core.rules import check, is_traced
from fedjax_sim.errors import ConfigError


class OptimizerSettings(NamedTuple):
  """An optimizer section: `name` sgd | adam | adagrad | yogi; `momentum`
  for sgd (0: none); `b1`, `b2`, `eps` for adam and yogi (`eps` also
  adagrad's); `initial_accumulator` for adagrad (None: 0.1) and yogi
  (None: 1e-6)."""

  name: str = 'sgd'
  learning_rate: float = 0.1
  momentum: float | None = 0.
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  initial_accumulator: float | None = None


def make_optimizer(s: OptimizerSettings, field: str) -> optax.GradientTransformation:
  """The optax optimizer `s` (the settings at `field`, for errors) describes."""
  check(field, s, [('learning_rate', lambda v: v > 0, '> 0')])
  lr, initial = s.learning_rate, s.initial_accumulator
  momentum = s.momentum if is_traced(s.momentum) else s.momentum or None
  builders = {
      'sgd': lambda: optax.sgd(lr, momentum=momentum),
      'adam': lambda: optax.adam(lr, b1=s.b1, b2=s.b2, eps=s.eps),
      'adagrad': lambda: optax.adagrad(lr, eps=s.eps, initial_accumulator_value=(
          0.1 if initial is None else initial)),
      'yogi': lambda: optax.chain(
          optax.scale_by_yogi(b1=s.b1, b2=s.b2, eps=s.eps, initial_accumulator_value=(
              1e-6 if initial is None else initial)),
          optax.scale_by_learning_rate(lr)),
  }
  if s.name not in builders:
    raise ConfigError(f'{field}.name must be one of {sorted(builders)}, got {s.name!r}')
  return builders[s.name]()
