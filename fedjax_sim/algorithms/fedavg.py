"""FedAvg (McMahan et al. 2017) with client and server optax optimizers.

Clients run local optimizer steps from the broadcast model and send their model
delta; the server treats minus the weighted mean delta as a pseudo-gradient for
its own optimizer (Reddi et al. 2021). Server SGD with learning rate 1 is plain
model averaging.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import run_local_steps
from fedjax_sim.models.model import Model, masked_loss


class ServerState(NamedTuple):
  params: Any
  opt_state: optax.OptState


def fedavg(model: Model, client_optimizer: optax.GradientTransformation,
           server_optimizer: optax.GradientTransformation,
           weighting: str = 'num_examples') -> FederatedAlgorithm:
  """Builds FedAvg; `weighting` is 'num_examples' or 'uniform'."""

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params))

  def client_update(state: ServerState, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    def step(carry, batch, mask, step_key):
      params, opt_state = carry
      loss, grads = jax.value_and_grad(masked_loss, argnums=1)(
          model, params, batch, mask, step_key)
      updates, opt_state = client_optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    start = (state.params, client_optimizer.init(state.params))
    (params, _), losses, valid = run_local_steps(step, start, batches, key)
    delta = jax.tree.map(jnp.subtract, params, state.params)
    loss = jnp.sum(losses * valid) / jnp.maximum(valid.sum(), 1)
    weight = batches.count if weighting == 'num_examples' else jnp.float32(1.)
    return ClientResult(delta, weight.astype(jnp.float32), {'train_loss': loss})

  def server_update(state: ServerState, mean_delta) -> ServerState:
    pseudo_grad = jax.tree.map(jnp.negative, mean_delta)
    updates, opt_state = server_optimizer.update(pseudo_grad, state.opt_state,
                                                 state.params)
    return ServerState(optax.apply_updates(state.params, updates), opt_state)

  return FederatedAlgorithm(init, client_update, server_update)
