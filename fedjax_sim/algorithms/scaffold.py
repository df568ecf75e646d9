"""SCAFFOLD (Karimireddy et al. 2020), option II control variates.

The server holds the model `x` and the global control `c`; every client keeps
its own control `c_i` between rounds (zeros at first). A sampled client runs K
plain SGD steps `y -= lr * (g(y) + c - c_i)`, then sets
`c_i+ = c_i - c + (x - y) / (K * lr)` and sends `(y - x, c_i+ - c_i)`. The
server applies its optimizer to the mean model delta and sets
`c += (1/N) * sum of the control deltas` (N clients in all).

Clients are weighted uniformly, as in the paper. A sampled client with no real
step (no examples) keeps its `c_i` and contributes nothing: the model delta is
averaged over the clients that trained (weight 0 would hide how many trained
from `c += (1/N) sum`); under compression with error feedback it still
uploads its residual. `config.weighting` is not used, and the update assumes
a (weighted) mean aggregator.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.fedavg import ServerState as ModelState
from fedjax_sim.algorithms.fedavg import apply_pseudo_gradient
from fedjax_sim.algorithms.common import Common, NoSettings, plain_sgd_learning_rate
from fedjax_sim.core.aggregator import safe_divide
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm, zeros_like_params
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer


class ServerState(NamedTuple):
  params: Any
  opt_state: optax.OptState
  control: Any


class Update(NamedTuple):
  """What a client sends: model delta, control delta, 1 if it trained."""

  delta: Any
  control_delta: Any
  trained: jax.Array


def scaffold(model: Model, learning_rate: float,
             server_optimizer: optax.GradientTransformation, num_clients: int,
             clients_per_round: int) -> FederatedAlgorithm:
  """Builds SCAFFOLD with local SGD at `learning_rate`; the server samples
  `clients_per_round` of `num_clients` clients every round."""
  optimizer = optax.sgd(learning_rate)
  sampled_fraction = clients_per_round / num_clients

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params),
                       jax.tree.map(jnp.zeros_like, params))

  def client_init(params):
    return jax.tree.map(jnp.zeros_like, params)

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, control, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    correction = jax.tree.map(jnp.subtract, state.control, control)

    def corrected(grads, local):
      del local
      return jax.tree.map(jnp.add, grads, correction)

    local = train_locally(loss_fn, optimizer, state.params, batches, key, corrected)
    trained = local.num_steps > 0
    scale = 1. / (jnp.maximum(local.num_steps, 1.) * learning_rate)
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    new_control = jax.tree.map(
        lambda ci, c, d: jnp.where(trained, ci - c - scale * d, ci),
        control, state.control, delta)
    control_delta = jax.tree.map(jnp.subtract, new_control, control)
    update = Update(delta, control_delta, trained.astype(jnp.float32))
    return ClientResult(update, jnp.float32(1.), {'train_loss': local.loss},
                        new_control)

  def server_update(state: ServerState, mean: Update) -> ServerState:
    mean_delta = safe_divide(mean.delta, mean.trained)
    model = apply_pseudo_gradient(server_optimizer,
                                  ModelState(state.params, state.opt_state),
                                  mean_delta)
    control = jax.tree.map(lambda c, dc: c + sampled_fraction * dc,
                           state.control, mean.control_delta)
    return ServerState(model.params, model.opt_state, control)

  def zero_update(params) -> Update:
    zeros = zeros_like_params(params)
    return Update(zeros, zeros, jnp.float32(0.))

  return FederatedAlgorithm(init, client_update, server_update, client_init,
                            zero_update=zero_update)


Settings = NoSettings


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """SCAFFOLD from the (plain SGD) client optimizer, the server optimizer
  and `clients_per_round`."""
  del settings
  return scaffold(common.model, plain_sgd_learning_rate(common.client_optimizer, 'scaffold'),
                  make_optimizer(common.server_optimizer, 'server.optimizer'),
                  common.num_clients, common.clients_per_round)
