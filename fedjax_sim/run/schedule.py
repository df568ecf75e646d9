"""The schedule part of a run: who trains in a round, with which step
budgets, and what the round adds to the log about time.

Implementations of one interface (`Schedule`):
- `synchronous`: `clients_per_round` clients sampled uniformly, with the
  stragglers' and dropouts' draws;
- `clocked`: rounds on the virtual clock (availability, deadline,
  over-selection; the same draws inside it, `fedjax_sim.behaviour.clock`);
- `buffered`: asynchronous FedBuff, whose server state names the clients its
  next program trains (`fedjax_sim.behaviour.fedbuff`), with the same draws.

A schedule's carry (the virtual time, or nothing) is a function of the seed
and the round index only, never of training, so a resumed run replays it
(`start`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.behaviour.stragglers import client_behaviour
from fedjax_sim.behaviour.fedbuff import program_inputs
from fedjax_sim.behaviour.stragglers import Draw
from fedjax_sim.behaviour.clock import Clock

PyTree = Any


def sample_and_round_keys(seed: int, round_index: int) -> tuple[jax.Array, jax.Array]:
  """`(sample_key, round_key)` of a round; a function of seed and index only."""
  return keys_of_round(jax.random.PRNGKey(seed), round_index)


def keys_of_round(run_key: jax.Array, round_index: int | jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """`sample_and_round_keys` from the run's key `PRNGKey(seed)` (traceable)."""
  return tuple(jax.random.split(jax.random.fold_in(run_key, round_index + 1)))


class Scheduled(NamedTuple):
  """A round's clients and their behaviour (`step_budgets`, `reported`)."""

  ids: jax.Array
  behaviour: dict[str, jax.Array]
  fields: Callable[[PyTree], dict[str, float]]  # server state after it -> logged fields


class Schedule(NamedTuple):
  """Who trains.

  Attributes:
    start: `rounds_done -> carry` at that round (replayed on resume).
    next: `(carry, server_state, sample_key) -> (Scheduled, carry)`.
  """

  start: Callable[[int], PyTree]
  next: Callable[[PyTree, PyTree, jax.Array], tuple[Scheduled, PyTree]]


def _none(server: PyTree) -> dict[str, float]:
  del server
  return {}


def synchronous(sample_fn: Callable[[jax.Array], jax.Array], draws: tuple[Draw, ...],
                counts: jax.Array) -> Schedule:
  """Uniform sampling and the behaviour draws."""

  def next_round(carry, server, sample_key):
    del server
    ids = sample_fn(sample_key)
    return Scheduled(ids, client_behaviour(draws, sample_key, ids, counts), _none), carry

  return Schedule(lambda rounds_done: None, next_round)


def clocked(clock: Clock, counts: jax.Array, seed: int) -> Schedule:
  """Rounds on the virtual clock: `virtual_time` (at the round's end),
  `round_seconds` and, when reports can be lost, `reported_clients`."""

  def next_round(time, server, sample_key):
    del server
    ids, behaviour, duration, end = clock.step(time, sample_key, counts)

    def fields(server_after):
      del server_after
      out = {'virtual_time': vt.to_float(end), 'round_seconds': float(duration)}
      if 'reported' in behaviour:
        out['reported_clients'] = float(jnp.sum(behaviour['reported']))
      return out

    return Scheduled(ids, behaviour, fields), end

  def start(rounds_done):
    time = vt.zero()
    for r in range(rounds_done):
      time = next_round(time, None, sample_and_round_keys(seed, r)[0])[1]
    return time

  return Schedule(start, next_round)


def buffered(draws: tuple[Draw, ...], counts: jax.Array) -> Schedule:
  """FedBuff: the clients the server state started (a copy: the round
  donates the state), with the behaviour draws (`fedbuff.program_inputs`);
  logs `virtual_time`, `server_updates`, `mean_staleness` (of the last
  update's reports), the aggregator's metrics of the last update, and with
  dropouts `reported_clients`."""

  def next_round(carry, server, sample_key):
    ids = jnp.copy(server.next_clients)
    behaviour = client_behaviour(draws, sample_key, ids, counts)

    def fields(server_after):
      out = {'virtual_time': vt.to_float(server_after.time),
             'server_updates': float(server_after.version),
             'mean_staleness': float(server_after.staleness),
             **{k: float(v) for k, v in server_after.aggregator_metrics.items()}}
      if 'reported' in behaviour:
        out['reported_clients'] = float(jnp.sum(behaviour['reported']))
      return out

    return Scheduled(ids, program_inputs(behaviour), fields), carry

  return Schedule(lambda rounds_done: None, next_round)
