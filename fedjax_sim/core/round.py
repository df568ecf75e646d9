"""The round engine: one federated round as one jitted XLA program."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from fedjax_sim.core.aggregator import Reduced, safe_divide
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.mapping import STRATEGIES, map_and_sum
from fedjax_sim.core.sharding import sharded_map_and_sum
from fedjax_sim.data.batching import BatchPlan, client_batches
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError

PyTree = Any


class RoundState(NamedTuple):
  """Everything that persists between rounds.

  Attributes:
    server: the algorithm's server state.
    clients: every client's persistent state, leaves `[num_clients, ...]`.
    aggregator: the aggregator's state.
  """

  server: PyTree
  clients: PyTree
  aggregator: PyTree


RoundFn = Callable[[RoundState, FederatedData, jax.Array, jax.Array],
                   tuple[RoundState, dict[str, Any]]]


def init_state(algorithm: FederatedAlgorithm, params: PyTree,
               num_clients: int) -> RoundState:
  """The state before round 0: server, `num_clients` client states, aggregator."""
  one = algorithm.client_init(params)
  clients = jax.tree.map(
      lambda a: jnp.broadcast_to(a, (num_clients,) + jnp.shape(a)).copy(), one)
  return RoundState(algorithm.init(params), clients, algorithm.aggregator.init())


def round_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(clients_key, server_key)` of a round key."""
  return tuple(jax.random.split(key))


def client_key(clients_key: jax.Array, client_id: jax.Array) -> tuple[jax.Array, ...]:
  """`(batch_key, train_key, aggregator_key)` of a client: depends on its id,
  not its position among the sampled clients."""
  return tuple(jax.random.split(jax.random.fold_in(clients_key, client_id), 3))


def build_round(algorithm: FederatedAlgorithm, plan: BatchPlan,
                strategy: str = 'vmap', chunk_size: int = 1,
                mesh: Mesh | None = None) -> RoundFn:
  """Returns `round(state, data, client_ids, key, data_rows=None) -> (state, metrics)`.

  The returned function is jitted with `state` donated; it compiles once per
  data shape and number of sampled clients (round index and client ids are
  traced values). `client_ids` must be distinct. `data_rows`, if given, are
  the sampled clients' rows in `data` when `data` holds only them (a data set
  too large to keep whole: gather the sampled clients on the host and pass
  `data_rows = arange(len(client_ids))`); client keys and client states still
  follow `client_ids`, so the result equals a round on the full data.

  With a `mesh` (`fedjax_sim.core.sharding.client_mesh`), the sampled clients
  are split over its devices (padded with masked clients to a multiple of the
  device count) and their sums all-reduced, still in one program.

  Metrics: the weighted means of the clients' metrics, `total_weight`, the
  aggregator's metrics, and `clients` (each client's metrics, weight and
  `update_norm` — the L2 norm of its whole update pytree — in sampled order).
  """
  if strategy not in STRATEGIES:
    raise ConfigError(f'engine.strategy must be one of {STRATEGIES}, got {strategy!r}')
  if chunk_size < 1:
    raise ConfigError(f'engine.chunk_size must be >= 1, got {chunk_size}')
  aggregator = algorithm.aggregator

  def round_fn(state: RoundState, data: FederatedData, client_ids, key,
               data_rows=None):
    num_sampled = client_ids.shape[0]
    group = (chunk_size if strategy == 'chunked' else 1) * (mesh.size if mesh else 1)
    padded = math.ceil(num_sampled / group) * group
    ids = jnp.zeros(padded, jnp.int32).at[:num_sampled].set(client_ids)
    rows = ids if data_rows is None else (
        jnp.zeros(padded, jnp.int32).at[:num_sampled].set(data_rows))
    valid = jnp.arange(padded) < num_sampled
    clients_key, server_key = round_keys(key)

    def one_client(shared, client_id, row, is_valid):
      state, data, clients_key = shared
      count = jnp.where(is_valid, data.counts[row], 0)
      batch_key, train_key, agg_key = client_key(clients_key, client_id)
      indices, mask = client_batches(batch_key, count, data.max_examples, plan)
      batches = ClientBatches(data.examples, client_id, count, indices, mask, row)
      own_state = jax.tree.map(lambda a: a[client_id], state.clients)
      result = algorithm.client_update(state.server, own_state, batches, train_key)
      weight = jnp.where(is_valid, result.weight, 0.).astype(jnp.float32)
      update, weight, stats = aggregator.prepare(result.update, weight,
                                                 state.aggregator, agg_key)
      weight = jnp.where(is_valid, weight, 0.).astype(jnp.float32)
      metric_sum = {k: weight * v for k, v in result.metrics.items()}
      norm = optax.tree.norm(result.update)
      per_client = ({**result.metrics, 'update_norm': norm}, weight, result.client_state)
      if aggregator.stacked:
        return (weight, metric_sum), (per_client, (update, stats))
      stats = {k: jnp.where(is_valid, v, 0.) for k, v in stats.items()}
      update_sum = jax.tree.map(lambda u: weight * u, update)
      return (weight, metric_sum, update_sum, stats), (per_client, ())

    shared = (state, data, clients_key)
    if mesh is None:
      summed, (per_client, stacked) = map_and_sum(
          functools.partial(one_client, shared), (ids, rows, valid), strategy, chunk_size)
    else:
      summed, (per_client, stacked) = sharded_map_and_sum(
          one_client, shared, (ids, rows, valid), strategy, chunk_size, mesh)
    first = lambda tree: jax.tree.map(lambda a: a[:num_sampled], tree)
    client_metrics, weights, new_client_states = first(per_client)
    total, metric_sum = summed[:2]
    if aggregator.stacked:
      updates, stats = first(stacked)
      reduced = Reduced(updates, weights, stats)
    else:
      reduced = Reduced(summed[2], total, summed[3])
    aggregate, aggregator_state, aggregator_metrics = aggregator.combine(
        reduced, state.aggregator, server_key)
    clients = jax.tree.map(lambda all_, new: all_.at[client_ids].set(new),
                           state.clients, new_client_states)
    new_state = RoundState(algorithm.server_update(state.server, aggregate),
                           clients, aggregator_state)
    metrics = safe_divide(metric_sum, total)
    metrics.update(aggregator_metrics, total_weight=total,
                   clients={**client_metrics, 'weight': weights})
    return new_state, metrics

  return jax.jit(round_fn, donate_argnums=0)
