"""Clip each client's update to an L2 norm (over the whole pytree) of at most
`aggregator.clip`: a chain stage (`clip+median`, `clip+mean+dp_noise`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fedjax_sim.aggregators.dp import clip_update
from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator, no_state, passthrough
from fedjax_sim.errors import ConfigError


def clip(max_norm: float | jax.Array) -> Aggregator:
  """Per-client clipping; it only prepares (its `combine` is `passthrough`),
  so it may come before any stage of a chain. `max_norm` may be a traced
  array (differentiable rounds); a Python number is checked."""
  if not isinstance(max_norm, jax.Array) and (
      isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not (
          max_norm > 0 and math.isfinite(max_norm))):
    raise ConfigError(f'aggregator.clip must be a number > 0, got {max_norm!r}')
  bound = max_norm if isinstance(max_norm, jax.Array) else jnp.float32(max_norm)

  def prepare(update, weight, state, key):
    del state, key
    return clip_update(update, bound)[0], weight, {}

  return Aggregator(no_state, prepare, passthrough)


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  """`settings.clip`."""
  del clients_per_round
  return clip(settings.clip)
