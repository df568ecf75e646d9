"""`Common`: what every algorithm is built from besides its own settings."""

from __future__ import annotations

from typing import NamedTuple

from fedjax_sim.core.rules import check, is_traced
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model
from fedjax_sim.optimizers import OptimizerSettings

WEIGHTINGS = ('num_examples', 'uniform')


class NoSettings(NamedTuple):
  """The settings of an algorithm without a section of its own."""


class Common(NamedTuple):
  """Inputs shared by the algorithms' `from_settings`.

  Attributes:
    model: the model trained.
    client_optimizer: the clients' local optimizer.
    server_optimizer: the server's optimizer on the pseudo-gradient.
    num_clients: clients in the population.
    clients_per_round: clients sampled per round.
    weighting: aggregation weights, 'num_examples' or 'uniform'.
  """

  model: Model
  client_optimizer: OptimizerSettings
  server_optimizer: OptimizerSettings
  num_clients: int
  clients_per_round: int
  weighting: str = 'num_examples'

  def checked_weighting(self) -> str:
    """`weighting`, validated."""
    if self.weighting not in WEIGHTINGS:
      raise ConfigError(f'weighting must be one of {list(WEIGHTINGS)}, got {self.weighting!r}')
    return self.weighting


def plain_sgd_learning_rate(optimizer: OptimizerSettings, algorithm: str) -> float:
  """The client learning rate, checking the optimizer is SGD without
  momentum (the algorithm's math assumes plain local SGD steps)."""
  momentum = optimizer.momentum or 0.
  if optimizer.name != 'sgd' or momentum != 0:
    raise ConfigError(f'{algorithm} needs client.optimizer sgd without momentum, '
                      f'got name={optimizer.name!r}, momentum={momentum}')
  check('client.optimizer', optimizer, [('learning_rate', lambda v: v > 0, '> 0')])
  lr = optimizer.learning_rate
  return lr if is_traced(lr) else float(lr)
