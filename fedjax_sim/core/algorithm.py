"""The federated algorithm interface: pure functions, like an optax transform.

A round is `broadcast -> client_update on every sampled client -> weighted
aggregate -> server_update`. The engine (`fedjax_sim.core.round`) owns the
mapping over clients, batching and device placement; an algorithm owns only
the math below.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.core.aggregator import Aggregator, weighted_mean
from fedjax_sim.core.client_batches import ClientBatches

PyTree = Any


class ClientResult(NamedTuple):
  """What one client sends back.

  Attributes:
    update: pytree the server averages (e.g. the model delta).
    weight: scalar aggregation weight (e.g. the number of examples).
    metrics: scalar metrics of the client (averaged with the same weights).
    client_state: the client's new persistent state (see
      `FederatedAlgorithm.client_init`); `()` for stateless algorithms.
    side: a second reduction, apart from the aggregator: a pytree whose
      weighted mean over the clients (with `weight`, as the clients
      reported it, before any aggregator reweights or clips) goes to
      `FederatedAlgorithm.receive_side`. `()` (the default): none.
  """

  update: PyTree
  weight: jax.Array
  metrics: dict[str, jax.Array]
  client_state: PyTree = ()
  side: PyTree = ()


def no_client_state(params: PyTree) -> tuple:
  """`client_init` of algorithms whose clients keep nothing between rounds."""
  del params
  return ()


def zeros_like_params(params: PyTree) -> PyTree:
  """`zero_update` of algorithms whose update is a model delta."""
  return jax.tree.map(jnp.zeros_like, params)


def no_personal_params(client_state: PyTree) -> None:
  """`personal_params` of algorithms without a personal model per client."""
  del client_state
  return None


class FederatedAlgorithm(NamedTuple):
  """Pure functions defining a federated algorithm.

  Attributes:
    init: `params -> server_state`.
    client_update: `(server_state, client_state, batches, key) -> ClientResult`;
      the server state is the broadcast (clients read what they need of it),
      `client_state` this client's persistent state.
    server_update: `(server_state, aggregate) -> server_state`, where
      `aggregate` is what `aggregator` made of the clients' `update`s (by
      default their weighted mean).
    client_init: `params -> one client's initial state`; the engine keeps it
      for every client as dense arrays `[num_clients, ...]` and updates only
      the sampled clients' rows.
    aggregator: how updates are combined (`fedjax_sim.core.aggregator`).
    personal_params: `client_state -> personal model params, or None`: what
      personalization evaluates as each client's own model (applied to the
      stacked states of all clients). Wrappers that extend the client state
      (compression's residuals) keep it working.
    receive_side: `(server_state, side_mean) -> server_state`, or None: run
      before `server_update` with the weighted mean of the clients'
      `ClientResult.side` (a second reduce, such as FedExP's mean squared
      update norm). None (the default) keeps the round one map and one
      reduce.
    zero_update: `params -> a zero ClientResult.update`: the structure,
      shapes and dtypes of one client's update (default: the params', as
      model deltas have). Wrappers that keep updates between rounds
      (compression's error-feedback residuals, FedBuff's buffer) size them
      with it.
    skips_empty_rounds: whether a round in which no client reported (total
      weight 0) leaves the server state as it was (no optimizer step, no
      momentum), as it does by default; False runs `server_update` every
      round (FedBuff, whose buffer and clock move on without reports).
  """

  init: Callable[[PyTree], PyTree]
  client_update: Callable[[PyTree, PyTree, ClientBatches, jax.Array], ClientResult]
  server_update: Callable[[PyTree, PyTree], PyTree]
  client_init: Callable[[PyTree], PyTree] = no_client_state
  aggregator: Aggregator = weighted_mean()
  personal_params: Callable[[PyTree], PyTree | None] = no_personal_params
  receive_side: Callable[[PyTree, PyTree], PyTree] | None = None
  zero_update: Callable[[PyTree], PyTree] = zeros_like_params
  skips_empty_rounds: bool = True
