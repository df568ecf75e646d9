"""FedAvg (McMahan et al. 2017) with client and server optax optimizers.

Clients run local optimizer steps from the broadcast model and send their model
delta; the server treats minus the aggregated delta as a pseudo-gradient for
its own optimizer (Reddi et al. 2021): SGD with learning rate 1 is plain model
averaging, SGD with momentum FedAvgM, Adam/Yogi/Adagrad FedAdam/FedYogi/
FedAdagrad.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.common import Common, NoSettings
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer

class ServerState(NamedTuple):
  params: Any
  opt_state: optax.OptState


def client_weight(batches: ClientBatches, weighting: str,
                  client_weights: jax.Array | None = None) -> jax.Array:
  """Aggregation weight of a client: its example count, or 1 if it holds any
  example (an empty client has weight 0 under either weighting, so
  aggregates are means over the clients with data); times its entry of
  `client_weights` (`[num_clients]`, any array, traced ones included). A
  client with examples but a step budget of 0 keeps its weight and sends a
  zero update."""
  count = batches.count.astype(jnp.float32)
  weight = jnp.minimum(count, 1.) if weighting == 'uniform' else count
  if client_weights is None:
    return weight
  return weight * jnp.asarray(client_weights)[batches.client_id]


def apply_pseudo_gradient(server_optimizer: optax.GradientTransformation,
                          state: ServerState, mean_delta) -> ServerState:
  """One server optimizer step on the pseudo-gradient `-mean_delta`."""
  pseudo_grad = jax.tree.map(jnp.negative, mean_delta)
  updates, opt_state = server_optimizer.update(pseudo_grad, state.opt_state,
                                               state.params)
  return ServerState(optax.apply_updates(state.params, updates), opt_state)


GradCorrection = Callable[[Any, Any, Any], Any]


def fedavg(model: Model, client_optimizer: optax.GradientTransformation,
           server_optimizer: optax.GradientTransformation,
           weighting: str = 'num_examples',
           grad_correction: GradCorrection | None = None,
           client_weights: jax.Array | None = None) -> FederatedAlgorithm:
  """Builds FedAvg; `weighting` is 'num_examples' or 'uniform'.

  `grad_correction(grads, local_params, global_params) -> grads`, if given,
  edits every local gradient (e.g. FedProx's proximal term).
  `client_weights` (`[num_clients]`), if given, multiplies each client's
  aggregation weight: a traced array makes the rounds differentiable with
  respect to it (learned aggregation weights, `scripts/hypergrad.py`).
  """

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params))

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    del client_state
    correct = None
    if grad_correction is not None:
      correct = lambda grads, local: grad_correction(grads, local, state.params)  # noqa: E731
    local = train_locally(loss_fn, client_optimizer, state.params, batches, key, correct)
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    return ClientResult(delta, client_weight(batches, weighting, client_weights),
                        {'train_loss': local.loss})

  def server_update(state: ServerState, mean_delta) -> ServerState:
    return apply_pseudo_gradient(server_optimizer, state, mean_delta)

  return FederatedAlgorithm(init, client_update, server_update)


Settings = NoSettings


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """FedAvg from the client and server optimizers and the weighting."""
  del settings
  return fedavg(common.model, make_optimizer(common.client_optimizer, 'client.optimizer'),
                make_optimizer(common.server_optimizer, 'server.optimizer'),
                common.checked_weighting())
