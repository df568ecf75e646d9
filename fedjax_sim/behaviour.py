"""Client behaviour from a config: the stragglers' and dropouts' draws, the
virtual clock of synchronous rounds, and asynchronous FedBuff
(docs/client_behaviour.md)."""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from fedjax_sim import availability, dropouts, fedbuff, settings, system_profiles
from fedjax_sim import stragglers as stragglers_lib
from fedjax_sim import virtual_clock
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.population import tree_bytes
from fedjax_sim.data.batching import BatchPlan
from fedjax_sim.data.registry import Dataset
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model
from fedjax_sim.privacy import is_private


def draws_from_config(config: ml_collections.ConfigDict, plan: BatchPlan
                      ) -> tuple[stragglers_lib.Draw, ...]:
  """The stragglers' and dropouts' per-round draws the config asks for."""
  return tuple(d for d in (
      stragglers_lib.draw_fn(stragglers_lib.settings_from_config(config), plan,
                             config.clients_per_round),
      dropouts.draw_fn(dropouts.probability_from_config(config), plan)) if d is not None)


def client_behaviour(draws: Sequence[stragglers_lib.Draw], sample_key: jax.Array,
                     ids: jax.Array, counts: jax.Array) -> dict[str, jax.Array]:
  """The round's `step_budgets` and `reported` from every behaviour draw (the
  smallest budget; reported if no draw says otherwise), or {} without draws."""
  if not draws:
    return {}
  budgets, reported = zip(*(draw(sample_key, ids, counts) for draw in draws))
  return {'step_budgets': functools.reduce(jnp.minimum, budgets),
          'reported': functools.reduce(jnp.logical_and, reported)}


class ClockInputs(NamedTuple):
  """The `clock`, `system` and `availability` sections, built."""

  settings: virtual_clock.Settings
  profiles: system_profiles.Profiles
  available: availability.Available | None
  configured: bool  # whether any setting differs from its default


def clock_inputs(config: ml_collections.ConfigDict, model: Model, dataset: Dataset
                 ) -> ClockInputs:
  clock_settings = settings.from_section(config, 'clock', virtual_clock.Settings)
  system = settings.from_section(config, 'system', system_profiles.Settings)
  online = settings.from_section(config, 'availability', availability.Settings)
  configured = (clock_settings, system, online) != (
      virtual_clock.Settings(), system_profiles.Settings(), availability.Settings())
  num_clients = dataset.train.num_clients
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                          jnp.asarray(dataset.test['x'][:1]))
  profiles = system_profiles.draw(system, num_clients, config.seed, tree_bytes(params))
  return ClockInputs(clock_settings, profiles,
                     availability.build(online, num_clients, config.seed), configured)


def clock_from_config(config: ml_collections.ConfigDict, inputs: ClockInputs,
                      num_clients: int, plan: BatchPlan,
                      draws: Sequence[stragglers_lib.Draw]) -> virtual_clock.Clock | None:
  """The virtual clock of synchronous rounds when any setting of the clock's
  sections differs from its default, else None."""
  if not inputs.configured:
    return None
  if is_private(config) and (inputs.available or inputs.settings.over_selection):
    raise ConfigError("aggregator.name='dp' accounts privacy for clients_per_round clients "
                      'sampled uniformly from all of them; availability and over-selection '
                      'change who is sampled, so they do not combine with it yet')

  def behaviour(key: jax.Array, ids: jax.Array, counts: jax.Array):
    combined = client_behaviour(draws, key, ids, counts)
    return combined['step_budgets'], combined['reported']

  return virtual_clock.build(
      inputs.settings, profiles=inputs.profiles, available=inputs.available,
      behaviour=behaviour if draws else None, plan=plan, num_clients=num_clients,
      clients_per_round=config.clients_per_round,
      partial_by_default=config.algorithm == 'fedprox')


FEDBUFF_ALGORITHMS = ('fedavg', 'fedprox')


def fedbuff_from_config(config: ml_collections.ConfigDict, algorithm: FederatedAlgorithm,
                        inputs: ClockInputs, counts: jax.Array, plan: BatchPlan
                        ) -> FederatedAlgorithm | None:
  """`algorithm` wrapped by FedBuff when `fedbuff.buffer_size` > 0, else None;
  a ConfigError names a setting FedBuff does not combine with."""
  buffered = settings.from_section(config, 'fedbuff', fedbuff.Settings)
  if not buffered.buffer_size:
    return None
  buffered = fedbuff.check(buffered, config.clients_per_round, counts.shape[0])
  virtual_clock.check(inputs.settings, config.clients_per_round, counts.shape[0])
  virtual_clock.check_round_length(inputs.profiles, plan.num_steps, 0.)
  section = lambda name: config.get(name, None) or {}  # noqa: E731
  unsupported = [
      ('algorithm', config.algorithm, config.algorithm in FEDBUFF_ALGORITHMS,
       f'one of {list(FEDBUFF_ALGORITHMS)}'),
      ('aggregator.name', section('aggregator').get('name', 'mean'),
       section('aggregator').get('name', 'mean') == 'mean', "'mean'"),
      ('compression.name', section('compression').get('name', 'none'),
       section('compression').get('name', 'none') == 'none', "'none'"),
      ('attack.kind', section('attack').get('kind', 'none'),
       section('attack').get('kind', 'none') == 'none', "'none'"),
      ('stragglers.fraction', section('stragglers').get('fraction', 0.),
       not section('stragglers').get('fraction', 0.), '0'),
      ('dropout.probability', section('dropout').get('probability', 0.),
       not section('dropout').get('probability', 0.), '0'),
      ('clock.deadline', inputs.settings.deadline, not inputs.settings.deadline,
       '0 (reports arrive when they arrive)'),
      ('clock.over_selection', inputs.settings.over_selection,
       not inputs.settings.over_selection, '0'),
      ('centralized', config.get('centralized', False), not config.get('centralized', False),
       'False')]
  for field, value, ok, expected in unsupported:
    if not ok:
      raise ConfigError(f'{field}={value!r} is not supported with fedbuff.buffer_size > 0 '
                        f'(asynchronous FedBuff); expected {expected}')
  return fedbuff.wrap(algorithm, buffered, profiles=inputs.profiles,
                      available=inputs.available, counts=counts, plan=plan,
                      seed=config.seed, idle_wait=inputs.settings.idle_wait)
