"""DP-FedAvg aggregation (McMahan et al. 2018) with optional adaptive clipping
(Andrew et al. 2021, "Differentially private learning with adaptive clipping").

Every participating client's update is clipped to L2 norm <= C (over the whole
pytree) and counts once (weight 1); the server adds N(0, (z C)^2) to the sum
and divides by the expected number of clients m = `clients_per_round`.

Adaptive clipping keeps C in the aggregator state. Each client reports
b_i = 1[||update|| <= C]; the server forms b = (sum b_i + N(0, sigma_b^2)) / m
and sets C <- C exp(-eta_C (b - gamma)), so C tracks the gamma-quantile of the
update norms. The count is a second Gaussian query, so the update noise uses
z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) and the pair costs as much privacy as
one Gaussian mechanism of multiplier z (the paper's Theorem 1): `z` is what
`fedjax_sim.privacy` accounts for.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.aggregators.settings import Settings
from fedjax_sim.core.aggregator import Aggregator, Reduced
from fedjax_sim.core.tree_util import safe_norm
from fedjax_sim.core.rules import check, is_traced
from fedjax_sim.errors import ConfigError

PyTree = Any


class DPOptions(NamedTuple):
  """DP-FedAvg options (see the module docstring for the symbols).

  Attributes:
    clip: C, or its initial value under adaptive clipping.
    noise_multiplier: z, the multiplier privacy is accounted for.
    expected_clients: m, the expected number of clients per round.
    adaptive: whether C adapts to the `target_quantile` of the update norms.
    target_quantile: gamma.
    clip_learning_rate: eta_C.
    count_noise_multiplier: sigma_b, the std of the noise on the count of
      unclipped clients.
  """

  clip: float
  noise_multiplier: float
  expected_clients: int
  adaptive: bool = False
  target_quantile: float = 0.5
  clip_learning_rate: float = 0.2
  count_noise_multiplier: float = 0.


class DPState(NamedTuple):
  clip: jax.Array


def update_noise_multiplier(options: DPOptions) -> float:
  """The multiplier of the noise added to the update sum: z, or z_delta."""
  z = options.noise_multiplier
  if not options.adaptive or (not is_traced(z) and z == 0):
    return z
  return (z ** -2 - (2 * options.count_noise_multiplier) ** -2) ** -0.5


def clip_update(update: PyTree, clip: jax.Array) -> tuple[PyTree, jax.Array]:
  """`(update scaled to global L2 norm <= clip, the original norm)`."""
  norm = safe_norm(update)
  scale = jnp.minimum(1., clip / jnp.maximum(norm, jnp.finfo(jnp.float32).tiny))
  return jax.tree.map(lambda u: u * scale, update), norm


def add_gaussian_noise(tree: PyTree, std: jax.Array, key: jax.Array) -> PyTree:
  """`tree` plus independent N(0, std^2) noise on every coordinate."""
  leaves, treedef = jax.tree.flatten(tree)
  keys = jax.random.split(key, len(leaves))
  noisy = [leaf + std * jax.random.normal(k, leaf.shape, leaf.dtype)
           for leaf, k in zip(leaves, keys)]
  return jax.tree.unflatten(treedef, noisy)


def dp_mean(options: DPOptions) -> Aggregator:
  """The DP-FedAvg aggregator; metrics `clip_norm` (the C of the round) and
  `fraction_clipped` (exact, a diagnostic that is not itself privatized)."""
  update_z = update_noise_multiplier(options)
  count_std = options.count_noise_multiplier if options.adaptive else 0.
  m = float(options.expected_clients)

  def init() -> DPState:
    return DPState(jnp.asarray(options.clip, jnp.float32))

  def prepare(update, weight, state: DPState, key):
    del key
    clipped, norm = clip_update(update, state.clip)
    participates = weight > 0
    unclipped = jnp.where(participates & (norm <= state.clip), 1., 0.)
    return clipped, participates.astype(jnp.float32), {'unclipped': unclipped}

  def combine(reduced: Reduced, state: DPState, key):
    update_key, count_key = jax.random.split(key)
    noisy_sum = add_gaussian_noise(reduced.updates, update_z * state.clip, update_key)
    unclipped = reduced.stats['unclipped']
    metrics = {'clip_norm': state.clip,
               'fraction_clipped': (reduced.weights - unclipped)
                                   / jnp.maximum(reduced.weights, 1.)}
    if options.adaptive:
      noisy_fraction = (unclipped + count_std * jax.random.normal(count_key)) / m
      state = DPState(state.clip * jnp.exp(
          -options.clip_learning_rate * (noisy_fraction - options.target_quantile)))
    return Reduced(noisy_sum, jnp.float32(m), reduced.stats), state, metrics

  return Aggregator(init, prepare, combine)


def dp_options(settings: Settings, clients_per_round: int) -> DPOptions:
  """`DPOptions` of the `aggregator` settings, validated; m = `clients_per_round`
  (count_noise_multiplier None: m / 20, the paper's choice)."""
  m = clients_per_round
  sigma_b = settings.count_noise_multiplier
  options = DPOptions(
      clip=settings.clip, noise_multiplier=settings.noise_multiplier, expected_clients=m,
      adaptive=settings.adaptive, target_quantile=settings.target_quantile,
      clip_learning_rate=settings.clip_learning_rate,
      count_noise_multiplier=m / 20 if sigma_b is None else sigma_b)
  finite = lambda test: lambda v: math.isfinite(v) and test(v)  # noqa: E731
  check('aggregator', options, [
      ('clip', finite(lambda v: v > 0), '> 0'),
      ('noise_multiplier', finite(lambda v: v >= 0), '>= 0'),
      ('adaptive', lambda v: isinstance(v, bool), 'True or False'),
      ('target_quantile', finite(lambda v: 0 <= v <= 1), 'in [0, 1]'),
      ('clip_learning_rate', finite(lambda v: v >= 0), '>= 0'),
      ('count_noise_multiplier', finite(lambda v: v >= 0), '>= 0'),
  ])
  z, sigma_b = options.noise_multiplier, options.count_noise_multiplier
  if options.adaptive and not is_traced(z) and z > 0 and not 2 * sigma_b > z:
    raise ConfigError(
        f'aggregator.count_noise_multiplier must be > noise_multiplier / 2 = '
        f'{z / 2} for adaptive clipping (Andrew et al. 2021), got {sigma_b}')
  return options


def from_settings(settings: Settings, clients_per_round: int) -> Aggregator:
  return dp_mean(dp_options(settings, clients_per_round))
