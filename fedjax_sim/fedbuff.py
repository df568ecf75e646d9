"""Asynchronous buffered aggregation on the virtual clock: FedBuff (Nguyen et
al. 2022), and FedAsync (Xie et al. 2019) as its `buffer_size=1` case.

`concurrency` clients are in flight at once. Each downloads the model version
current when it starts, trains, and reports after its local steps at its
speed plus its upload time (`fedjax_sim.system_profiles`). The server
applies an update every `buffer_size` (K) reports: the reports' updates
weighted by their aggregation weights times a staleness factor s(tau), where
tau is the number of server updates since the client downloaded, over the
sum of the weights, then the wrapped algorithm's server update. Freed slots
go to clients sampled among those available then (`fedjax_sim.availability`)
and not already in flight. Staleness factors (`staleness`, as in the paper):
  'constant':   1;
  'polynomial': (1 + tau) ** -exponent;
  'hinge':      1 for tau <= hinge, else 1 / (exponent * (tau - hinge) + 1).

How it is simulated: a client's training depends only on the version it
downloaded, so it trains when it starts and its update waits in a buffer of
`concurrency` slots until its report time; no old model version is kept.
One program (the engine's round, `wrap` the algorithm) trains the K clients
that start now, stores their updates, takes the next K reports in time order,
updates the server and samples the next K clients. The schedule (slots,
report times, versions, the clock) lives in the server state, so a resumed
run continues it exactly. The first `concurrency / K - 1` programs only fill
the pipeline: they train the first clients, all from version 0, and do not
update the model. A step whose K reports all carry weight 0 (empty slots)
leaves the model and its version as they are.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim import availability as availability_lib
from fedjax_sim import settings as settings_lib
from fedjax_sim import virtual_time as vt
from fedjax_sim.core.aggregator import (Aggregator, Reduced, as_aggregate, keep, no_state,
                                        safe_divide)
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.data.batching import BatchPlan, real_steps
from fedjax_sim.errors import ConfigError
from fedjax_sim.settings import is_int, is_number
from fedjax_sim.system_profiles import Profiles

PyTree = Any
STALENESS = ('constant', 'polynomial', 'hinge')


class Settings(NamedTuple):
  """The `fedbuff` config section; `buffer_size=0` is synchronous FL."""

  buffer_size: int = 0  # K: reports per server update (1: FedAsync)
  concurrency: int = 0  # clients in flight (0: clients_per_round)
  staleness: str = 'polynomial'
  exponent: float = 0.5  # polynomial: the power; hinge: the slope a
  hinge: int = 10  # hinge: staleness without discount (b)


class BufferState(NamedTuple):
  """The server state of a FedBuff-wrapped algorithm (slots: the clients in
  flight)."""

  inner: PyTree  # the wrapped algorithm's server state
  updates: PyTree  # leaves [concurrency, ...]: each slot's update, waiting
  weights: jax.Array  # [concurrency] their aggregation weights
  versions: jax.Array  # [concurrency] int32 server version each downloaded
  remaining: jax.Array  # [concurrency] float32 virtual seconds until it reports
  clients: jax.Array  # [concurrency] int32 the client in each slot
  usable: jax.Array  # [concurrency] bool: a client that could be sampled
  filled: jax.Array  # int32 slots trained so far
  version: jax.Array  # int32 server updates so far
  time: vt.VirtualTime  # the virtual clock
  staleness: jax.Array  # float32 mean staleness of the last update's reports
  next_slots: jax.Array  # [K] int32 slots the next program trains
  next_clients: jax.Array  # [K] int32 their clients: the next program's client_ids
  key: jax.Array  # the schedule's PRNG key

  @property
  def params(self) -> PyTree:
    return self.inner.params


def check(settings: Settings, clients_per_round: int, num_clients: int) -> Settings:
  """`settings` with `concurrency` resolved; ConfigError for a bad field."""
  s = settings
  settings_lib.check('fedbuff', s, [
      ('buffer_size', lambda v: is_int(v) and v >= 1, 'an integer >= 1 (0: synchronous rounds)'),
      ('concurrency', lambda v: is_int(v) and v >= 0 and (v or clients_per_round) % s.buffer_size
       == 0 and (v or clients_per_round) <= num_clients,
       f'0 (clients_per_round) or a multiple of fedbuff.buffer_size={s.buffer_size} '
       f'up to the {num_clients} clients'),
      ('staleness', lambda v: v in STALENESS, f'one of {list(STALENESS)}'),
      ('exponent', lambda v: is_number(v) and v >= 0, 'a number >= 0'),
      ('hinge', lambda v: is_int(v) and v >= 0, 'an integer >= 0')])
  return s._replace(concurrency=s.concurrency or clients_per_round)


def staleness_factor(settings: Settings, tau: jax.Array) -> jax.Array:
  """s(tau) of `settings.staleness` (float32)."""
  tau = tau.astype(jnp.float32)
  if settings.staleness == 'constant':
    return jnp.ones_like(tau)
  if settings.staleness == 'polynomial':
    return (1 + tau) ** -settings.exponent
  return jnp.where(tau <= settings.hinge, 1.,
                   1 / (settings.exponent * (tau - settings.hinge) + 1))


def collect() -> Aggregator:
  """An aggregator that hands the server the stacked updates and weights."""
  def combine(reduced: Reduced, state, key):
    del key
    return as_aggregate((reduced.updates, reduced.weights), {}), state, {}
  return Aggregator(no_state, keep, combine, stacked=True)


def wrap(algorithm: FederatedAlgorithm, settings: Settings, *, profiles: Profiles,
         available: availability_lib.Available | None, counts: jax.Array,
         plan: BatchPlan, seed: int, idle_wait: float) -> FederatedAlgorithm:
  """`algorithm` (updates shaped like the model, no client state, aggregated
  by its weighted mean) run asynchronously: the engine's round is one FedBuff
  program (see above); its `client_ids` are the server state's
  `next_clients` (pass a copy: the round donates the state). When too few clients can be sampled, the empty slots report
  nothing after `idle_wait` virtual seconds."""
  if algorithm.receive_side is not None:
    raise ConfigError('fedbuff cannot run an algorithm with a second reduce '
                      '(receive_side): buffered updates carry no side values')
  size, concurrency = settings.buffer_size, settings.concurrency
  num_clients = counts.shape[0]
  speeds, uploads = jnp.asarray(profiles.speed), jnp.asarray(profiles.upload_seconds)

  def report_after_or_wait(ids: jax.Array, usable: jax.Array) -> jax.Array:
    """float32 virtual seconds from start to report of clients `ids`; a
    placeholder slot (`usable` False) reports nothing after `idle_wait`."""
    seconds = real_steps(counts[ids], plan) / speeds[ids] + uploads[ids]
    return jnp.where(usable, seconds, idle_wait).astype(jnp.float32)

  def sample(key: jax.Array, time: vt.VirtualTime, busy: jax.Array, num: int
             ) -> tuple[jax.Array, jax.Array]:
    """`num` clients available at `time` and not `busy`, and whether each
    really was (too few: the rest are placeholders that report nothing)."""
    online = jnp.ones(num_clients, bool) if available is None else available(time, key)
    eligible = online & ~busy & (counts > 0)  # a client without data reports nothing
    priority = jax.random.uniform(jax.random.fold_in(key, 1), (num_clients,))
    _, ids = jax.lax.top_k(jnp.where(eligible, priority, priority - 2.), num)
    return ids.astype(jnp.int32), eligible[ids]

  def init(params: PyTree) -> BufferState:
    inner = algorithm.init(params)
    key, first = jax.random.split(jax.random.PRNGKey(seed))
    time = vt.zero()
    clients, usable = sample(first, time, jnp.zeros(num_clients, bool), concurrency)
    zeros = jax.tree.map(lambda p: jnp.zeros((concurrency,) + jnp.shape(p), jnp.result_type(p)),
                         params)  # updates are model deltas
    return BufferState(
        inner, zeros, jnp.zeros(concurrency, jnp.float32), jnp.zeros(concurrency, jnp.int32),
        report_after_or_wait(clients, usable), clients, usable,
        jnp.int32(0), jnp.int32(0), time, jnp.float32(0.), jnp.arange(size, dtype=jnp.int32),
        jnp.array(clients[:size], copy=True), key)  # its own buffer: rounds donate the state

  def client_update(server: BufferState, client_state, batches, key):
    return algorithm.client_update(server.inner, client_state, batches, key)

  def fill(s: BufferState) -> BufferState:
    slots = s.filled + jnp.arange(size, dtype=jnp.int32)
    return s._replace(next_slots=slots, next_clients=s.clients[slots])

  def step(s: BufferState) -> BufferState:
    _, slots = jax.lax.top_k(-s.remaining, size)  # the next K reports
    elapsed = jnp.max(s.remaining[slots])
    tau = s.version - s.versions[slots]
    weights = s.weights[slots]
    factor = staleness_factor(settings, tau)
    total = jax.tree.map(lambda u: jnp.tensordot(weights * factor, u[slots], axes=1),
                         s.updates)
    updated = jnp.sum(weights) > 0
    inner = jax.tree.map(lambda new, old: jnp.where(updated, new, old),
                         algorithm.server_update(s.inner, safe_divide(total, jnp.sum(weights))),
                         s.inner)
    time = vt.advance(s.time, elapsed)
    key, draw = jax.random.split(s.key)
    leaving = jnp.zeros(concurrency, bool).at[slots].set(True)
    busy = jnp.zeros(num_clients, bool).at[s.clients].max(~leaving & s.usable)
    ids, usable = sample(draw, time, busy, size)
    return s._replace(
        inner=inner, time=time, key=key, version=s.version + updated, next_slots=slots,
        next_clients=ids,
        staleness=jnp.mean(tau.astype(jnp.float32)),
        remaining=(s.remaining - elapsed).at[slots].set(report_after_or_wait(ids, usable)),
        versions=s.versions.at[slots].set(s.version + updated),
        clients=s.clients.at[slots].set(ids), usable=s.usable.at[slots].set(usable))

  def server_update(s: BufferState, aggregate: tuple[PyTree, jax.Array]) -> BufferState:
    updates, weights = aggregate
    trained = s.next_slots
    s = s._replace(
        updates=jax.tree.map(lambda buf, u: buf.at[trained].set(u), s.updates, updates),
        weights=s.weights.at[trained].set(jnp.where(s.usable[trained], weights, 0.)),
        filled=jnp.minimum(s.filled + size, concurrency))
    return jax.lax.cond(s.filled < concurrency, fill, step, s)

  return algorithm._replace(init=init, client_update=client_update,
                            server_update=server_update, aggregator=collect())
