"""The round engine: one federated round as one jitted XLA program."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from absl import logging
from jax.sharding import Mesh

from fedjax_sim.core.aggregator import Reduced, finish, safe_divide
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.layout import Layout, auto_layout, platform
from fedjax_sim.core.mapping import STRATEGIES, map_and_sum
from fedjax_sim.core.state import RoundFn, RoundState, client_key, round_keys
from fedjax_sim.core.sharding import auto_mesh, replicator, sharded_map_and_sum
from fedjax_sim.core.schedule import balanced_order, inverse
from fedjax_sim.core.tree_util import all_finite, safe_norm
from fedjax_sim.data.batching import BatchPlan, client_stream, real_steps
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.packed import PackedData
from fedjax_sim.errors import ConfigError

PyTree = Any
ENGINE_STRATEGIES = ('auto',) + STRATEGIES
REMAT = ('client', 'step', 'none')  # what differentiable rounds recompute (make_round)


def build_round(algorithm: FederatedAlgorithm, plan: BatchPlan,
                strategy: str = 'auto', chunk_size: int = 1,
                mesh: Mesh | None = None,
                log: Callable[[str], None] = logging.info,
                client_rows: bool = False, drop_nonfinite: bool = False) -> RoundFn:
  """Returns `round(state, data, client_ids, key, data_rows=None, step_budgets=None,
  reported=None) -> (state, metrics)`: `make_round`'s round, jitted with
  `state` donated.

  `strategy='auto'` (the default) picks the layout (`fedjax_sim.core.layout`)
  when the round is compiled, from the backend, the model's size and the
  clients per device, over every device (`sharding.auto_mesh`) unless a
  `mesh` is given; `log` receives the choice. On a CPU, call
  `fedjax_sim.core.sharding.use_cpu_cores()` right after `import jax` so
  every core is a device.

  The returned function is jitted with `state` donated; it compiles once per
  data shape and number of sampled clients (round index and client ids are
  traced values). `client_ids` must be distinct. `data_rows`, if given, are
  the sampled clients' rows in `data` when `data` holds only them (a data set
  too large to keep whole: gather the sampled clients on the host and pass
  `data_rows = arange(len(client_ids))`); client keys and client states still
  follow `client_ids`, so the result equals a round on the full data.
  `data` is padded (`FederatedData`) or packed (`fedjax_sim.data.packed`,
  no padding: on heavy-tailed client sizes far smaller and faster to gather
  from); both give the same round.

  Every client runs only its own real local steps (`real_steps` of its example
  count). `step_budgets` (int32, one per sampled client) caps them: partial
  work, such as a straggler's, where a client stops after its budget (its
  update and weight are those of the steps it ran; 0 steps: a zero update).
  `reported` (bool, one per sampled client) drops the clients marked False
  from the round, as if they had not reported: weight 0, their persistent
  state unchanged (give them a budget of 0 to skip their work too). Clients are mapped longest first (`fedjax_sim.core.schedule`), so a
  `chunked` chunk holds clients of similar length and a round costs about the
  sampled clients' real steps in every strategy but `vmap`, whose single chunk
  runs as long as its longest client.

  With `client_rows`, `state.clients` holds only the sampled clients' states,
  `[len(client_ids), ...]` in the order of `client_ids`, and the round
  returns their new states there: the population's states can then live
  anywhere (host memory, `fedjax_sim.core.placement`), and device memory
  does not grow with the number of clients.

  With a `mesh` (`fedjax_sim.core.sharding.client_mesh`), the sampled clients
  are dealt over its devices with balanced total steps (padded with masked
  clients to a multiple of the device count) and their sums all-reduced,
  still in one program.

  Non-finite values are flagged inside the program, with no host sync per
  client: `clients['finite']` says whether a client's update norm is finite
  (no NaN or inf in the update, and a norm within float range),
  `nonfinite_clients` counts the sampled clients whose update is not and
  `server_finite` whether the new server state is. With `drop_nonfinite`,
  such clients are dropped from the round (weight 0, their persistent state
  unchanged), as if they had not reported.

  Metrics: the weighted means of the clients' metrics, `total_weight`, the
  aggregator's metrics, the flags above, and `clients` (each client's
  metrics, weight, `finite` and `update_norm` — the L2 norm of its whole
  update pytree — in sampled order).
  """
  if strategy == 'auto' and mesh is None:
    mesh = auto_mesh()
  jitted = jax.jit(make_round(algorithm, plan, strategy, chunk_size, mesh, log, client_rows,
                              drop_nonfinite), donate_argnums=0)
  if mesh is None or jax.process_count() > 1:  # multi-process: inputs are global arrays
    return jitted
  place = replicator(mesh)

  def on_mesh(*args, **kwargs):
    # Inputs replicated over the mesh as the round returns its state, so
    # every round runs the first round's program and nothing moves twice.
    return jitted(*place(args), **place(kwargs))

  on_mesh.lower, on_mesh._cache_size = jitted.lower, jitted._cache_size
  return on_mesh


def make_round(algorithm: FederatedAlgorithm, plan: BatchPlan, strategy: str = 'auto',
               chunk_size: int = 1, mesh: Mesh | None = None,
               log: Callable[[str], None] = logging.info, client_rows: bool = False,
               drop_nonfinite: bool = False, differentiable: bool = False,
               remat: str = 'client') -> RoundFn:
  """The pure, un-jitted round of `build_round` (same arguments), to jit,
  scan (`run_rounds`) or differentiate yourself.

  With `differentiable`, every client's local loop runs the plan's
  `num_steps` iterations (steps past its own masked out, each rematerialized
  in the backward pass) instead of its own trip count, so `jax.grad` goes
  through whole rounds: with respect to the initial parameters, and to
  hyper-parameters the algorithm closes over as traced arrays (learning rates
  given to optax as arrays, FedProx's `mu`, ...). A round then costs clients
  x the longest client's steps. Padded and empty clients give zero, not NaN,
  gradients. `remat` says what the backward pass recomputes instead of
  keeping (`REMAT`): 'client' (the default) keeps only each client's inputs
  and recomputes its local training, itself step by step, during the
  backward pass (memory: the rounds' states plus one client's steps);
  'step' keeps every step's carry; 'none' keeps every step's intermediates
  (`docs/differentiable.md` measures the three).
  """
  if strategy not in ENGINE_STRATEGIES:
    raise ConfigError(f'engine.strategy must be one of {ENGINE_STRATEGIES}, got {strategy!r}')
  if chunk_size < 1:
    raise ConfigError(f'engine.chunk_size must be >= 1, got {chunk_size}')
  if strategy == 'auto' and mesh is None:
    mesh = auto_mesh()
  if remat not in REMAT:
    raise ConfigError(f'remat must be one of {REMAT}, got {remat!r}')
  plan = plan._replace(fixed_length=differentiable, remat_steps=remat != 'none')
  aggregator = algorithm.aggregator
  num_devices = mesh.size if mesh else 1

  def one_client(shared, client_id, row, count, is_valid, slot, budget=None, reported=None):
    state, data, clients_key = shared
    batch_key, train_key, agg_key = client_key(clients_key, client_id)
    offset = jnp.asarray(data.offsets)[row] if isinstance(data, PackedData) else None
    batches = ClientBatches(data.examples, client_id, count,
                            client_stream(batch_key, count, plan), row, offset, budget)
    own_state = jax.tree.map(lambda a: a[slot], state.clients)
    result = algorithm.client_update(state.server, own_state, batches, train_key)
    norm = safe_norm(result.update)
    finite = jnp.isfinite(norm)  # NaN or inf anywhere, or a norm beyond float range
    update, client_state = result.update, result.client_state
    keep = is_valid if reported is None else is_valid & reported
    if drop_nonfinite:  # as if the client had not reported
      keep = keep & finite
      update = jax.tree.map(lambda u: jnp.where(finite, u, 0), update)
    if drop_nonfinite or reported is not None:
      client_state = jax.tree.map(lambda new, old: jnp.where(keep, new, old),
                                  client_state, own_state)
    weight = jnp.where(keep, result.weight, 0.).astype(_weight_dtype(result.weight))
    update, weight, stats = aggregator.prepare(update, weight, state.aggregator, agg_key)
    weight = jnp.where(keep, weight, 0.).astype(_weight_dtype(weight))
    metric_sum = {k: jnp.where(keep, weight * v, 0.) for k, v in result.metrics.items()}
    per_client = ({**result.metrics, 'update_norm': norm, 'finite': finite}, weight,
                  client_state)
    stats = {k: jnp.where(keep, v, 0.) for k, v in stats.items()}
    side = _side_sum(result, keep) if algorithm.receive_side else ()
    if aggregator.stacked:
      return (weight, metric_sum, side), (per_client, (update, stats))
    update_sum = jax.tree.map(lambda u: weight * u, update)
    return (weight, metric_sum, update_sum, stats, side), (per_client, ())

  if differentiable and remat == 'client':
    one_client = jax.checkpoint(one_client)

  def round_fn(state: RoundState, data: FederatedData | PackedData, client_ids, key,
               data_rows=None, step_budgets=None, reported=None):
    num_sampled = client_ids.shape[0]
    clients_key, server_key = round_keys(key)
    shared = (state, data, clients_key)
    # Budgets and reports make separate programs; without them the round is as before.
    capped, partial = step_budgets is not None, reported is not None
    example = (jnp.int32(0),) * 3 + (jnp.bool_(True), jnp.int32(0)) + (
        (jnp.int32(0),) if capped or partial else ()) + ((jnp.bool_(True),) if partial else ())
    layout = Layout(strategy, chunk_size)
    if strategy == 'auto':
      layout = auto_layout(one_client, shared, example, aggregator.stacked,
                            math.ceil(num_sampled / num_devices), mesh)
      log(f'engine: auto layout {layout.describe()} on {num_devices} '
          f'{platform(mesh)} device(s), {num_sampled} clients per round')
    group = layout.group_size * num_devices
    padded = math.ceil(num_sampled / group) * group
    ids = jnp.zeros(padded, jnp.int32).at[:num_sampled].set(client_ids)
    rows = ids if data_rows is None else (
        jnp.zeros(padded, jnp.int32).at[:num_sampled].set(data_rows))
    valid = jnp.arange(padded) < num_sampled
    counts = jnp.where(valid, jnp.asarray(data.counts)[rows], 0).astype(jnp.int32)
    steps = real_steps(counts, plan)
    columns = [ids, rows, counts, valid]
    if capped:
      budgets = jnp.zeros(padded, jnp.int32).at[:num_sampled].set(step_budgets)
      steps = jnp.minimum(steps, budgets)
    # Longest clients first, dealt to the lightest devices (`schedule`): chunks
    # of similar length, balanced devices; outputs return to sampled order.
    perm = balanced_order(steps, num_devices)
    columns.append(jnp.arange(padded, dtype=jnp.int32) if client_rows else ids)
    if capped or partial:
      columns.append(budgets if capped else jnp.full(padded, jnp.iinfo(jnp.int32).max))
    if partial:
      columns.append(jnp.zeros(padded, bool).at[:num_sampled].set(reported))
    xs = tuple(a[perm] for a in columns)
    if mesh is None:
      summed, stacked_out = map_and_sum(
          functools.partial(one_client, shared), xs, *layout, shared)
    else:
      summed, stacked_out = sharded_map_and_sum(one_client, shared, xs, *layout, mesh)
    back = inverse(perm)
    per_client, stacked = jax.tree.map(lambda a: a[back], stacked_out)
    first = lambda tree: jax.tree.map(lambda a: a[:num_sampled], tree)
    client_metrics, weights, new_client_states = first(per_client)
    total, metric_sum = summed[:2]
    if aggregator.stacked:
      updates, stats = first(stacked)
      reduced = Reduced(updates, weights, stats)
    else:
      reduced = Reduced(summed[2], total, summed[3])
    reduced, aggregator_state, aggregator_metrics = aggregator.combine(
        reduced, state.aggregator, server_key)
    aggregate = finish(reduced)
    server = state.server
    if algorithm.receive_side:
      side_sum, side_weight = summed[-1]
      server = algorithm.receive_side(server, safe_divide(side_sum, side_weight))
    clients = new_client_states if client_rows else jax.tree.map(
        lambda all_, new: all_.at[client_ids].set(new), state.clients, new_client_states)
    # A round in which no client reported (all dropped, offline or late)
    # leaves the server as it was: no optimizer step, no momentum.
    server = algorithm.server_update(server, aggregate)
    if algorithm.skips_empty_rounds:
      server = jax.tree.map(lambda new, old: jnp.where(total > 0, new, old), server,
                            state.server)
    new_state = RoundState(server, clients, aggregator_state)
    metrics = safe_divide(metric_sum, total)
    metrics.update(aggregator_metrics, total_weight=total,
                   nonfinite_clients=jnp.sum(~client_metrics['finite']).astype(jnp.int32),
                   server_finite=all_finite(new_state.server),
                   clients={**client_metrics, 'weight': weights})
    return new_state, metrics

  return round_fn


def _weight_dtype(weight: jax.Array) -> jnp.dtype:
  """float32, or float64 for float64 weights (traced ones of a gradient check)."""
  return jnp.promote_types(jnp.result_type(weight), jnp.float32)


def _side_sum(result, keep: jax.Array) -> tuple[PyTree, jax.Array]:
  """`(weight * side, weight)` of a client for `receive_side`'s weighted
  mean; a client not kept adds zeros (even where its side is NaN)."""
  weight = jnp.where(keep, result.weight, 0.).astype(_weight_dtype(result.weight))
  return jax.tree.map(lambda v: jnp.where(keep, weight * v, 0.), result.side), weight


def run_rounds(round_fn: RoundFn, state: RoundState, data: FederatedData | PackedData,
               client_ids: jax.Array, keys: jax.Array) -> tuple[RoundState, dict[str, Any]]:
  """`len(keys)` rounds of a pure round (`make_round`) as one `lax.scan`:
  round r trains `client_ids[r]` with `keys[r]`; returns the final state and
  every round's metrics, stacked."""
  def one(state, inputs):
    return round_fn(state, data, *inputs)
  return jax.lax.scan(one, state, (client_ids, keys))
