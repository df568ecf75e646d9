"""Client behaviour from a config: the stragglers' and dropouts' draws, the
virtual clock of synchronous rounds, and asynchronous FedBuff
(docs/client_behaviour.md)."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from fedjax_sim.behaviour import availability
from fedjax_sim.behaviour import dropouts
from fedjax_sim.behaviour import fedbuff
from fedjax_sim.core import refusals
from fedjax_sim.behaviour import system_profiles
from fedjax_sim.behaviour import stragglers as stragglers_lib
from fedjax_sim.behaviour import clock as virtual_clock
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.placement import tree_bytes
from fedjax_sim.data.batching import BatchPlan
from fedjax_sim.data.registry import Dataset
from fedjax_sim.models.model import Model
from fedjax_sim.config.algorithms import is_private
from fedjax_sim.config.sections import from_section


def draws_from_config(config: ml_collections.ConfigDict, plan: BatchPlan
                      ) -> tuple[stragglers_lib.Draw, ...]:
  """The stragglers' and dropouts' per-round draws the config asks for."""
  return tuple(d for d in (
      stragglers_lib.draw_fn(from_section(config, 'stragglers', stragglers_lib.Settings), plan,
                             config.clients_per_round),
      dropouts.draw_fn(from_section(config, 'dropout', dropouts.Settings).probability,
                       plan)) if d is not None)


class ClockInputs(NamedTuple):
  """The `clock`, `system` and `availability` sections, built."""

  settings: virtual_clock.Settings
  profiles: system_profiles.Profiles
  available: availability.Available | None


def clock_inputs(config: ml_collections.ConfigDict, model: Model, dataset: Dataset
                 ) -> ClockInputs | None:
  """The sections built when a setting of them differs from its default or
  FedBuff is on; None otherwise (no clock: nothing is drawn)."""
  clock_settings = from_section(config, 'clock', virtual_clock.Settings)
  system = from_section(config, 'system', system_profiles.Settings)
  online = from_section(config, 'availability', availability.Settings)
  if ((clock_settings, system, online) == (
      virtual_clock.Settings(), system_profiles.Settings(), availability.Settings())
      and not from_section(config, 'fedbuff', fedbuff.Settings).buffer_size):
    return None
  num_clients = dataset.train.num_clients
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                          jnp.asarray(dataset.test['x'][:1]))
  profiles = system_profiles.draw(system, num_clients, config.seed, tree_bytes(params))
  return ClockInputs(clock_settings, profiles,
                     availability.build(online, num_clients, config.seed))


def clock_from_config(config: ml_collections.ConfigDict, inputs: ClockInputs | None,
                      num_clients: int, plan: BatchPlan,
                      draws: Sequence[stragglers_lib.Draw]) -> virtual_clock.Clock | None:
  """The virtual clock of synchronous rounds when there are clock inputs
  (`clock_inputs`), else None."""
  if inputs is None:
    return None
  check_private(config)

  def behaviour(key: jax.Array, ids: jax.Array, counts: jax.Array):
    combined = stragglers_lib.client_behaviour(draws, key, ids, counts)
    return combined['step_budgets'], combined['reported']

  return virtual_clock.build(
      inputs.settings, profiles=inputs.profiles, available=inputs.available,
      behaviour=behaviour if draws else None, plan=plan, num_clients=num_clients,
      clients_per_round=config.clients_per_round,
      partial_by_default=config.algorithm == 'fedprox')


def check_private(config: ml_collections.ConfigDict) -> None:
  """Under DP-FedAvg (`aggregator.name='dp'`), availability and over-selection
  are refused (`refusals.DP_AVAILABILITY`, `DP_OVER_SELECTION`)."""
  if is_private(config):
    refusals.refuse(refusals.DP_AVAILABILITY,
                    from_section(config, 'availability', availability.Settings).kind)
    refusals.refuse(refusals.DP_OVER_SELECTION,
                    from_section(config, 'clock', virtual_clock.Settings).over_selection)


def fedbuff_from_config(config: ml_collections.ConfigDict, algorithm: FederatedAlgorithm,
                        inputs: ClockInputs | None, counts: jax.Array, plan: BatchPlan
                        ) -> FederatedAlgorithm | None:
  """`algorithm` wrapped by FedBuff when `fedbuff.buffer_size` > 0, else None;
  a ConfigError names a setting FedBuff does not combine with
  (`refusals.FEDBUFF_REFUSALS`)."""
  buffered = from_section(config, 'fedbuff', fedbuff.Settings)
  if not buffered.buffer_size:
    return None
  buffered = fedbuff.check(buffered, config.clients_per_round, counts.shape[0])
  virtual_clock.check(inputs.settings, config.clients_per_round, counts.shape[0])
  virtual_clock.check_round_length(inputs.profiles, plan.num_steps, 0.)
  values = {'algorithm': config.algorithm, 'clock.deadline': inputs.settings.deadline,
            'clock.over_selection': inputs.settings.over_selection,
            'centralized': config.get('centralized', False)}
  for row in refusals.FEDBUFF_REFUSALS:
    refusals.refuse(row, values[row.field])
  check_private(config)
  return fedbuff.wrap(algorithm, buffered, profiles=inputs.profiles,
                      available=inputs.available, counts=counts, plan=plan,
                      seed=config.seed, idle_wait=inputs.settings.idle_wait)
