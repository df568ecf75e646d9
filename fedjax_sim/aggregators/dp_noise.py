"""Gaussian noise on the aggregate, as a chain stage: N(0, (z C / m)^2) on
every coordinate, z = `aggregator.noise_multiplier`, C = `aggregator.clip`,
m = `clients_per_round`, the noise DP-FedAvg adds to its mean.

`clip+mean+dp_noise` (with `weighting='uniform'`) is DP-FedAvg with fixed
clipping, except that the mean divides by the clients that reported rather
than by m; `clip+trimmed_mean+dp_noise` adds the same noise to a robust
aggregate. Privacy is accounted (`epsilon`) only for the `dp` aggregator:
the accountant's Gaussian mechanism is a sum of clipped updates over m, and
chains are not checked to be one.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from fedjax_sim.aggregators.dp import add_gaussian_noise
from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator, Reduced, finish, keep, no_state
from fedjax_sim.core.rules import is_traced
from fedjax_sim.errors import ConfigError


def dp_noise(noise_multiplier: float, clip: float, expected_clients: int) -> Aggregator:
  """The aggregate plus N(0, (noise_multiplier clip / expected_clients)^2);
  metric `noise_std`."""
  for field, value in [('noise_multiplier', noise_multiplier), ('clip', clip)]:
    if not is_traced(value) and (isinstance(value, bool) or not isinstance(
        value, (int, float)) or not 0 <= value < math.inf):
      raise ConfigError(f'aggregator.{field} must be a finite number >= 0, got {value!r}')
  std = jnp.asarray(noise_multiplier * clip / expected_clients, jnp.float32)

  def combine(reduced: Reduced, state, key):
    noisy = add_gaussian_noise(finish(reduced), std, key)
    return Reduced(noisy, jnp.float32(1.), reduced.stats), state, {'noise_std': std}

  return Aggregator(no_state, keep, combine)


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  """`settings.noise_multiplier` and `settings.clip`."""
  return dp_noise(settings.noise_multiplier, settings.clip, clients_per_round)
