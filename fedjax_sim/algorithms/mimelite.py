"""MimeLite (Karimireddy et al. 2021, "Breaking the centralized barrier for
cross-device federated learning") with SGD + momentum as base optimizer.

The server keeps a momentum `m`, fixed during local training: clients step
`y -= lr * ((1 - beta) * g(y) + beta * m)` and also compute their full-batch
gradient at the server model `x` over all their real examples (evaluation
mode, no dropout). The server steps its optimizer on minus the mean model
delta (SGD with learning rate s: `x += s * mean delta`) and sets
`m = (1 - beta) * mean full gradient + beta * m`. Means are weighted by
`config.weighting` (example counts by default).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.fedavg import ServerState as ModelState
from fedjax_sim.algorithms.common import Common, plain_sgd_learning_rate
from fedjax_sim.algorithms.fedavg import apply_pseudo_gradient, client_weight
from fedjax_sim.algorithms.full_pass import full_pass_grad
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm, zeros_like_params
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer
from fedjax_sim.core.rules import check, is_number


class ServerState(NamedTuple):
  params: Any
  opt_state: optax.OptState
  momentum: Any


class Update(NamedTuple):
  """What a client sends: its model delta and its full-batch gradient at x."""

  delta: Any
  full_grad: Any


def mimelite(model: Model, learning_rate: float, beta: float,
             server_optimizer: optax.GradientTransformation,
             weighting: str = 'num_examples') -> FederatedAlgorithm:
  """Builds MimeLite with local step size `learning_rate` and momentum `beta`."""
  optimizer = optax.sgd(learning_rate)

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params),
                       jax.tree.map(jnp.zeros_like, params))

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    del client_state

    def with_momentum(grads, local):
      del local
      return jax.tree.map(lambda g, m: (1. - beta) * g + beta * m,
                          grads, state.momentum)

    local = train_locally(loss_fn, optimizer, state.params, batches, key,
                          with_momentum)
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    update = Update(delta, full_pass_grad(model, state.params, batches))
    return ClientResult(update, client_weight(batches, weighting),
                        {'train_loss': local.loss})

  def server_update(state: ServerState, mean: Update) -> ServerState:
    model_state = apply_pseudo_gradient(server_optimizer,
                                        ModelState(state.params, state.opt_state),
                                        mean.delta)
    momentum = jax.tree.map(lambda g, m: (1. - beta) * g + beta * m,
                            mean.full_grad, state.momentum)
    return ServerState(model_state.params, model_state.opt_state, momentum)

  def zero_update(params) -> Update:
    zeros = zeros_like_params(params)
    return Update(zeros, zeros)

  return FederatedAlgorithm(init, client_update, server_update, zero_update=zero_update)


class Settings(NamedTuple):
  """`config.mimelite`: `beta`, the server momentum, in [0, 1)."""

  beta: float = 0.7


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """MimeLite from `beta`, the (plain SGD) client optimizer, the server
  optimizer and the weighting."""
  check('mimelite', settings, [('beta', lambda v: is_number(v) and 0 <= v < 1,
                                'a number in [0, 1)')])
  return mimelite(common.model, plain_sgd_learning_rate(common.client_optimizer, 'mimelite'),
                  float(settings.beta),
                  make_optimizer(common.server_optimizer, 'server.optimizer'),
                  common.checked_weighting())
