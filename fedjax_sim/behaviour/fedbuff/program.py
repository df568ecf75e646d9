"""The FedBuff program: `wrap` an algorithm so that the engine's round trains
the K clients that start now, buffers their reports and, once the pipeline
is full, takes the next K reports in time order for one server update (see
`fedjax_sim.behaviour.fedbuff`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.behaviour import availability as availability_lib
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.core.aggregator import Aggregator, Reduced, as_aggregate, keep, no_state
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.data.batching import BatchPlan, real_steps
from fedjax_sim.errors import ConfigError
from fedjax_sim.behaviour.fedbuff import reports
from fedjax_sim.behaviour.fedbuff.settings import Settings, staleness_factor
from fedjax_sim.behaviour.system_profiles import Profiles

PyTree = Any

class BufferState(NamedTuple):
  """The server state of a FedBuff-wrapped algorithm (slots: the clients in
  flight)."""

  inner: PyTree  # the wrapped algorithm's server state
  updates: PyTree  # leaves [concurrency, ...]: each slot's prepared update, waiting
  weights: jax.Array  # [concurrency] their prepared aggregation weights (0: no report)
  stats: dict[str, jax.Array]  # [concurrency] their aggregator `prepare` stats
  versions: jax.Array  # [concurrency] int32 server version each downloaded
  remaining: jax.Array  # [concurrency] float32 virtual seconds until it reports
  clients: jax.Array  # [concurrency] int32 the client in each slot
  usable: jax.Array  # [concurrency] bool: a client that could be sampled
  filled: jax.Array  # int32 slots trained so far
  version: jax.Array  # int32 server updates so far (each one DP release under 'dp')
  time: vt.VirtualTime  # the virtual clock
  staleness: jax.Array  # float32 mean staleness of the last update's reports
  next_slots: jax.Array  # [K] int32 slots the next program trains
  next_clients: jax.Array  # [K] int32 their clients: the next program's client_ids
  key: jax.Array  # the schedule's PRNG key
  aggregator: PyTree  # the wrapped algorithm's aggregator state
  aggregator_metrics: dict[str, jax.Array]  # its metrics at the last server update

  @property
  def params(self) -> PyTree:
    return self.inner.params


def program_inputs(behaviour: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """The engine's inputs for a FedBuff program from the round's behaviour
  draws (`step_budgets`, `reported` of its K clients; {} without draws): a
  client that does not report runs no step (so it reports nothing and keeps
  its persistent state)."""
  if not behaviour:
    return {}
  return {'step_budgets': jnp.where(behaviour['reported'], behaviour['step_budgets'], 0)}


def dp_releases(server: BufferState) -> int:
  """Noised aggregates released so far under `aggregator.name='dp'`: one per
  server update (an update whose K slots all report nothing releases none)."""
  return int(server.version)


def collect() -> Aggregator:
  """An aggregator that hands the server the stacked updates and weights."""
  def combine(reduced: Reduced, state, key):
    del key
    return as_aggregate((reduced.updates, reduced.weights), {}), state, {}
  return Aggregator(no_state, keep, combine, stacked=True)


def _stacked_zeros(tree: PyTree, num: int) -> PyTree:
  """Zeros of `tree`'s (or its shape structs') leaves, stacked `num` times."""
  return jax.tree.map(lambda a: jnp.zeros((num,) + jnp.shape(a), a.dtype), tree)


def _empty_reports(aggregator: Aggregator, zero_update: PyTree, state: PyTree, num: int
                   ) -> Reduced:
  """`num` stacked reports of weight 0 with the aggregator's stats."""
  updates = _stacked_zeros(zero_update, num)
  keys = jax.random.split(jax.random.PRNGKey(0), num)
  stats = jax.eval_shape(lambda: reports.prepare(aggregator, updates, jnp.zeros(num), state,
                                                 keys))[2]
  return Reduced(updates, jnp.zeros(num, jnp.float32), _stacked_zeros(
      jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), stats), num))


def wrap(algorithm: FederatedAlgorithm, settings: Settings, *, profiles: Profiles,
         available: availability_lib.Available | None, counts: jax.Array,
         plan: BatchPlan, seed: int, idle_wait: float) -> FederatedAlgorithm:
  """`algorithm` (any update structure, `zero_update`; any aggregator; no
  `receive_side`) run asynchronously: the engine's round is one FedBuff
  program (see `fedjax_sim.behaviour.fedbuff`); its `client_ids` are the server state's
  `next_clients` (pass a copy: the round donates the state), with
  `program_inputs` of their behaviour draws if clients straggle or drop out
  (never `reported`: a round of weight 0 would stop the schedule). A client
  that runs no step reports nothing (weight 0). When too few clients can be
  sampled, the empty slots report nothing after `idle_wait` virtual
  seconds."""
  if algorithm.receive_side is not None:
    raise ConfigError('fedbuff cannot run an algorithm with a second reduce '
                      '(receive_side): buffered updates carry no side values')
  size, concurrency = settings.buffer_size, settings.concurrency
  aggregator = algorithm.aggregator
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
    inner, aggregator_state = algorithm.init(params), aggregator.init()
    key, first = jax.random.split(jax.random.PRNGKey(seed))
    time = vt.zero()
    clients, usable = sample(first, time, jnp.zeros(num_clients, bool), concurrency)
    zero = algorithm.zero_update(params)
    empty = _empty_reports(aggregator, zero, aggregator_state, concurrency)
    metrics = jax.eval_shape(lambda: reports.combine(
        aggregator, _empty_reports(aggregator, zero, aggregator_state, size), jnp.ones(size),
        aggregator_state, key))[2]
    return BufferState(
        inner, empty.updates, empty.weights, empty.stats, jnp.zeros(concurrency, jnp.int32),
        report_after_or_wait(clients, usable), clients, usable,
        jnp.int32(0), jnp.int32(0), time, jnp.float32(0.), jnp.arange(size, dtype=jnp.int32),
        jnp.array(clients[:size], copy=True),  # its own buffer: rounds donate the state
        key, aggregator_state, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics))

  def client_update(server: BufferState, client_state, batches, key) -> ClientResult:
    result = algorithm.client_update(server.inner, client_state, batches, key)
    weight = jnp.where(batches.num_steps > 0, result.weight, 0.).astype(jnp.float32)
    return result._replace(update=(result.update, weight), weight=weight)

  def fill(s: BufferState) -> BufferState:
    slots = s.filled + jnp.arange(size, dtype=jnp.int32)
    return s._replace(next_slots=slots, next_clients=s.clients[slots])

  def step(s: BufferState) -> BufferState:
    _, slots = jax.lax.top_k(-s.remaining, size)  # the next K reports
    elapsed = jnp.max(s.remaining[slots])
    tau = s.version - s.versions[slots]
    taken = Reduced(jax.tree.map(lambda u: u[slots], s.updates), s.weights[slots],
                    jax.tree.map(lambda v: v[slots], s.stats))
    aggregate, aggregator_state, metrics = reports.combine(
        aggregator, taken, staleness_factor(settings, tau), s.aggregator,
        jax.random.fold_in(s.key, 1))
    updated = jnp.sum(taken.weights) > 0
    unless_empty = lambda new, old: jax.tree.map(  # noqa: E731
        lambda a, b: jnp.where(updated, a, b), new, old)
    time = vt.advance(s.time, elapsed)
    key, draw = jax.random.split(s.key)
    leaving = jnp.zeros(concurrency, bool).at[slots].set(True)
    busy = jnp.zeros(num_clients, bool).at[s.clients].max(~leaving & s.usable)
    ids, usable = sample(draw, time, busy, size)
    return s._replace(
        inner=unless_empty(algorithm.server_update(s.inner, aggregate), s.inner),
        aggregator=unless_empty(aggregator_state, s.aggregator),
        aggregator_metrics=unless_empty(metrics, s.aggregator_metrics),
        time=time, key=key, version=s.version + updated, next_slots=slots, next_clients=ids,
        staleness=jnp.mean(tau.astype(jnp.float32)),
        remaining=(s.remaining - elapsed).at[slots].set(report_after_or_wait(ids, usable)),
        versions=s.versions.at[slots].set(s.version + updated),
        clients=s.clients.at[slots].set(ids), usable=s.usable.at[slots].set(usable))

  def server_update(s: BufferState, aggregate: tuple[tuple[PyTree, jax.Array], jax.Array]
                    ) -> BufferState:
    (updates, weights), _ = aggregate
    trained = s.next_slots
    keys = jax.random.split(jax.random.fold_in(s.key, 2), size)
    updates, weights, stats = reports.prepare(
        aggregator, updates, jnp.where(s.usable[trained], weights, 0.), s.aggregator, keys)
    put = lambda buf, new: buf.at[trained].set(new)  # noqa: E731
    s = s._replace(
        updates=jax.tree.map(put, s.updates, updates), weights=put(s.weights, weights),
        stats=jax.tree.map(put, s.stats, stats), filled=jnp.minimum(s.filled + size, concurrency))
    return jax.lax.cond(s.filled < concurrency, fill, step, s)

  return algorithm._replace(init=init, client_update=client_update,
                            server_update=server_update, aggregator=collect(),
                            skips_empty_rounds=False)
