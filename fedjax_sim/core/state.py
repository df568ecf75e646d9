"""What persists between rounds (`RoundState`) and the keys of a round and
of each of its clients."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.data.federated_data import FederatedData

PyTree = Any


class RoundState(NamedTuple):
  """Everything that persists between rounds.

  Attributes:
    server: the algorithm's server state.
    clients: every client's persistent state, leaves `[num_clients, ...]`
      (with `build_round(client_rows=True)`: only the sampled clients' rows).
    aggregator: the aggregator's state.
  """

  server: PyTree
  clients: PyTree
  aggregator: PyTree


RoundFn = Callable[[RoundState, FederatedData, jax.Array, jax.Array],
                   tuple[RoundState, dict[str, Any]]]


def init_state(algorithm: FederatedAlgorithm, params: PyTree, num_clients: int) -> RoundState:
  """The state before round 0: server, `num_clients` client states (device
  arrays; a runner keeps them elsewhere with `fedjax_sim.run.population`),
  aggregator."""
  clients = jax.tree.map(lambda a: jnp.broadcast_to(a, (num_clients,) + jnp.shape(a)).copy(),
                         algorithm.client_init(params))
  return RoundState(algorithm.init(params), clients, algorithm.aggregator.init())


def round_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(clients_key, server_key)` of a round key."""
  return tuple(jax.random.split(key))


def client_key(clients_key: jax.Array, client_id: jax.Array) -> tuple[jax.Array, ...]:
  """`(batch_key, train_key, aggregator_key)` of a client: depends on its id,
  not its position among the sampled clients."""
  return tuple(jax.random.split(jax.random.fold_in(clients_key, client_id), 3))
