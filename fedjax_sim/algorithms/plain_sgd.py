"""Validation shared by algorithms whose local update rule is plain SGD."""

from __future__ import annotations

import ml_collections

from fedjax_sim.errors import ConfigError


def plain_sgd_learning_rate(config: ml_collections.ConfigDict, algorithm: str) -> float:
  """`client.optimizer.learning_rate`, checking the optimizer is SGD without
  momentum (the algorithm's math assumes plain local SGD steps)."""
  cfg = config.client.optimizer
  name, momentum = cfg.get('name', 'sgd'), cfg.get('momentum', 0.) or 0.
  if name != 'sgd' or momentum != 0:
    raise ConfigError(f'{algorithm} needs client.optimizer sgd without momentum, '
                      f'got name={name!r}, momentum={momentum}')
  lr = cfg.get('learning_rate', 0.)
  if not lr > 0:
    raise ConfigError(f'client.optimizer.learning_rate must be > 0, got {lr}')
  return float(lr)
