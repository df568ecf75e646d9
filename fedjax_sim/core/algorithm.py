"""The federated algorithm interface: pure functions, like an optax transform.

A round is `broadcast -> client_update on every sampled client -> weighted
aggregate -> server_update`. The engine (`fedjax_sim.core.round`) owns the
mapping over clients, batching and device placement; an algorithm owns only
the math below.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from fedjax_sim.core.client_batches import ClientBatches

PyTree = Any


class ClientResult(NamedTuple):
  """What one client sends back.

  Attributes:
    update: pytree the server averages (e.g. the model delta).
    weight: scalar aggregation weight (e.g. the number of examples).
    metrics: scalar metrics of the client (averaged with the same weights).
  """

  update: PyTree
  weight: jax.Array
  metrics: dict[str, jax.Array]


class FederatedAlgorithm(NamedTuple):
  """Pure functions defining a federated algorithm.

  Attributes:
    init: `params -> server_state`.
    client_update: `(server_state, batches, key) -> ClientResult`; the server
      state is the broadcast (clients read what they need of it).
    server_update: `(server_state, mean_update) -> server_state`, where
      `mean_update` is the weighted mean of the clients' `update`s.
  """

  init: Callable[[PyTree], PyTree]
  client_update: Callable[[PyTree, ClientBatches, jax.Array], ClientResult]
  server_update: Callable[[PyTree, PyTree], PyTree]
