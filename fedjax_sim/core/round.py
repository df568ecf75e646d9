"""The round engine: one federated round as one jitted XLA program."""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.mapping import STRATEGIES, map_and_sum
from fedjax_sim.data.batching import BatchPlan, client_batches
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError

PyTree = Any
RoundFn = Callable[[PyTree, FederatedData, jax.Array, jax.Array],
                   tuple[PyTree, dict[str, Any]]]


def client_key(round_key: jax.Array, client_id: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(batch_key, train_key)` of a client: depends on its id, not its position."""
  return tuple(jax.random.split(jax.random.fold_in(round_key, client_id)))


def build_round(algorithm: FederatedAlgorithm, plan: BatchPlan,
                strategy: str = 'vmap', chunk_size: int = 1) -> RoundFn:
  """Returns `round(server_state, data, client_ids, key) -> (state, metrics)`.

  The returned function is jitted with the server state donated; it compiles
  once per data shape and number of sampled clients (round index and client
  ids are traced values).

  Metrics: the weighted means of the clients' metrics, `total_weight`, and
  `clients` (each client's metrics and weight, in sampled order).
  """
  if strategy not in STRATEGIES:
    raise ConfigError(f'engine.strategy must be one of {STRATEGIES}, got {strategy!r}')
  if chunk_size < 1:
    raise ConfigError(f'engine.chunk_size must be >= 1, got {chunk_size}')

  def round_fn(server_state, data: FederatedData, client_ids, key):
    num_sampled = client_ids.shape[0]
    group = chunk_size if strategy == 'chunked' else 1
    padded = math.ceil(num_sampled / group) * group
    ids = jnp.zeros(padded, jnp.int32).at[:num_sampled].set(client_ids)
    valid = jnp.arange(padded) < num_sampled
    max_examples = data.max_examples

    def one_client(client_id, is_valid):
      count = jnp.where(is_valid, data.counts[client_id], 0)
      batch_key, train_key = client_key(key, client_id)
      indices, mask = client_batches(batch_key, count, max_examples, plan)
      batches = ClientBatches(data.examples, client_id, count, indices, mask)
      result = algorithm.client_update(server_state, batches, train_key)
      weight = jnp.where(is_valid, result.weight, 0.).astype(jnp.float32)
      summed = (jax.tree.map(lambda u: weight * u, result.update), weight,
                {k: weight * v for k, v in result.metrics.items()})
      return summed, (result.metrics, weight)

    (update_sum, total, metric_sum), (client_metrics, weights) = map_and_sum(
        one_client, (ids, valid), strategy, chunk_size)
    denom = jnp.maximum(total, jnp.finfo(jnp.float32).tiny)
    mean_update = jax.tree.map(lambda s: s / denom, update_sum)
    new_state = algorithm.server_update(server_state, mean_update)
    metrics = {k: v / denom for k, v in metric_sum.items()}
    metrics['total_weight'] = total
    metrics['clients'] = jax.tree.map(lambda a: a[:num_sampled],
                                      {**client_metrics, 'weight': weights})
    return new_state, metrics

  return jax.jit(round_fn, donate_argnums=0)
