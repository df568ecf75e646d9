"""Synchronous rounds on a virtual clock.

Each round starts at the virtual time the previous one ended. The server
selects clients among those available then (`fedjax_sim.behaviour.availability`),
`ceil((1 + over_selection) * clients_per_round)` of them. A selected client
trains its local steps at its speed and uploads its update
(`fedjax_sim.behaviour.system_profiles`); stragglers and dropouts
(`fedjax_sim.behaviour.stragglers`, `fedjax_sim.behaviour.dropouts`) shorten or end its work
first. The round closes at the first of:
  - the `clients_per_round`-th report, under over-selection (later reports
    are discarded, as in Bonawitz et al. 2019);
  - the moment every selected client has reported or dropped out;
  - the `deadline` (virtual seconds, 0 for none). A client that would report
    later does the steps it can still upload in time (`late='partial'`,
    FedProx) or is left out (`late='drop'`, FedAvg); `'auto'` is partial
    for FedProx and drop otherwise.
That moment is the round's virtual duration; a round in which no selected
client was available lasts `idle_wait`. Download and server time are not
modelled.

The whole schedule is one small jitted program per round, on the device,
from the round's sample key and the virtual time, and does not depend on
training: resuming replays it, so a resumed run is bit-identical.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.behaviour import availability as availability_lib
from fedjax_sim.core import rules as settings_lib
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.data.batching import BatchPlan, real_steps
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.errors import ConfigError
from fedjax_sim.core.rules import is_number
from fedjax_sim.behaviour.system_profiles import Profiles

LATE = ('auto', 'partial', 'drop')
MAX_SECONDS = 1e8  # the longest round (about 3 years): time is int32 seconds
PRIORITY_TAG = 4  # sampling among available clients: fold_in(sample_key, PRIORITY_TAG)

# `(sample_key, ids, every client's examples) -> (step budgets, reported)`
Behaviour = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


class Settings(NamedTuple):
  """The `clock` config section."""

  deadline: float = 0.  # virtual seconds a round waits for reports (0: no deadline)
  late: str = 'auto'  # a client that would miss the deadline: partial | drop | auto
  over_selection: float = 0.  # extra share of clients selected (0.3: 130%)
  idle_wait: float = 60.  # virtual seconds of a round with no available client


class Schedule(NamedTuple):
  """One round on the clock."""

  ids: jax.Array  # int32 [selected] client ids
  behaviour: dict[str, jax.Array]  # `step_budgets`, `reported` ({}: full work for all)
  duration: jax.Array  # float32 virtual seconds
  end: vt.VirtualTime  # when the round closed


class Clock(NamedTuple):
  selected: int  # clients per round program, with over-selection
  step: Callable[[vt.VirtualTime, jax.Array, jax.Array], Schedule]  # (start, key, counts)


def check(settings: Settings, clients_per_round: int, num_clients: int) -> int:
  """The number of clients selected per round; ConfigError for a bad field."""
  s = settings
  settings_lib.check('clock', s, [
      ('deadline', lambda v: is_number(v) and 0 <= v <= MAX_SECONDS,
       f'a number of virtual seconds in [0, {MAX_SECONDS:g}] (0: no deadline)'),
      ('late', lambda v: v in LATE, f'one of {list(LATE)}'),
      ('over_selection', lambda v: is_number(v) and 0 <= v <= 10, 'a number in [0, 10]'),
      ('idle_wait', lambda v: is_number(v) and 0 < v <= MAX_SECONDS,
       f'a number of virtual seconds in (0, {MAX_SECONDS:g}]')])
  selected = math.ceil(round((1 + s.over_selection) * clients_per_round, 6))
  if selected > num_clients:
    raise ConfigError(f'clock.over_selection={s.over_selection} selects {selected} clients '
                      f'per round, more than the {num_clients} clients of the data')
  return selected


def check_round_length(profiles: Profiles, max_steps: int, deadline: float) -> None:
  """A ConfigError when a round could outlast `MAX_SECONDS` (the slowest
  device's longest work and upload; the deadline caps it)."""
  longest = float(max_steps / profiles.speed.min() + profiles.upload_seconds.max())
  if deadline:
    longest = min(longest, deadline)
  if longest > MAX_SECONDS:
    raise ConfigError(f'the slowest client could take {longest:.3g} virtual seconds for one '
                      f'round, more than {MAX_SECONDS:g}: raise system.speed or '
                      'system.bandwidth, lower their sigmas, or set clock.deadline')


def build(settings: Settings, *, profiles: Profiles,
          available: availability_lib.Available | None, behaviour: Behaviour | None,
          plan: BatchPlan, num_clients: int, clients_per_round: int,
          partial_by_default: bool) -> Clock:
  """The clock of `settings`; `partial_by_default` is `late='auto'`'s choice."""
  selected = check(settings, clients_per_round, num_clients)
  deadline = float(settings.deadline)
  check_round_length(profiles, plan.num_steps, deadline)
  partial = settings.late == 'partial' or (settings.late == 'auto' and partial_by_default)
  alters = bool(deadline or selected > clients_per_round or available or behaviour)
  speeds, uploads = jnp.asarray(profiles.speed), jnp.asarray(profiles.upload_seconds)

  def pick(start: vt.VirtualTime, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Selected ids, and which of them are available."""
    if available is None:
      return sample_clients(key, num_clients, selected), jnp.ones(selected, bool)
    online = available(start, key)
    priority = jax.random.uniform(jax.random.fold_in(key, PRIORITY_TAG), (num_clients,))
    _, ids = jax.lax.top_k(jnp.where(online, priority, priority - 2.), selected)
    return ids.astype(jnp.int32), online[ids]

  @jax.jit
  def step(start: vt.VirtualTime, key: jax.Array, counts: jax.Array) -> Schedule:
    ids, online = pick(start, key)
    full = real_steps(counts[ids], plan)
    here = online & (full > 0)  # a client without data has nothing to report
    budgets, reported = (behaviour(key, ids, counts) if behaviour
                         else (full, jnp.ones(selected, bool)))
    budgets, reported = jnp.where(here, budgets, 0), reported & here
    speed, upload = speeds[ids], uploads[ids]
    finish = budgets / speed + upload
    event = jnp.where(reported, finish, jnp.where(here, budgets / speed, 0.))
    if deadline:
      late = reported & (finish > deadline)
      if partial:
        managed = jnp.clip(jnp.floor((deadline - upload) * speed), 0, budgets).astype(jnp.int32)
        budgets = jnp.where(late, managed, budgets)
        reported = reported & ~(late & (managed == 0))
        finish = jnp.where(late, managed / speed + upload, finish)
      else:
        budgets, reported = jnp.where(late, 0, budgets), reported & ~late
      event = jnp.minimum(jnp.where(reported, finish, event), deadline)
    closes = jnp.max(event)
    if selected > clients_per_round:
      arrival = jnp.where(reported, finish, jnp.inf)
      order = jnp.argsort(arrival, stable=True)
      rank = jnp.zeros(selected, jnp.int32).at[order].set(jnp.arange(selected, dtype=jnp.int32))
      kept = reported & (rank < clients_per_round)
      enough = jnp.sum(reported) >= clients_per_round
      closes = jnp.where(enough, arrival[order[clients_per_round - 1]], closes)
      budgets, reported = jnp.where(reported & ~kept, 0, budgets), kept
    duration = jnp.where(jnp.any(here), closes, settings.idle_wait).astype(jnp.float32)
    out = {'step_budgets': budgets.astype(jnp.int32), 'reported': reported} if alters else {}
    return Schedule(ids, out, duration, vt.advance(start, duration))

  return Clock(selected, step)
