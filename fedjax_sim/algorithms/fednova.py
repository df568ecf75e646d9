"""FedNova (Wang et al. 2020, "Tackling the Objective Inconsistency Problem in
Heterogeneous Federated Optimization"), for vanilla local SGD.

Clients that run different numbers of local steps tau_i bias FedAvg towards
the clients with more steps. FedNova averages normalized updates instead:
client i sends `d_i = delta_i / tau_i` and `tau_i` (its real steps), and the
server steps its optimizer on `-tau_eff * sum_i p_i d_i` with
`tau_eff = sum_i p_i tau_i` and `p_i` the clients' aggregation weights
(example counts by default, `config.weighting`). Both sums come out of the
weighted-mean aggregate of `(d_i, tau_i)`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.fedavg import ServerState, apply_pseudo_gradient, client_weight
from fedjax_sim.algorithms.common import Common, NoSettings, plain_sgd_learning_rate
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm, zeros_like_params
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer


class Update(NamedTuple):
  """What a client sends: its delta per local step and its number of steps."""

  normalized_delta: Any
  num_steps: jax.Array


def fednova(model: Model, learning_rate: float,
            server_optimizer: optax.GradientTransformation,
            weighting: str = 'num_examples') -> FederatedAlgorithm:
  """Builds FedNova with local SGD at `learning_rate`."""
  optimizer = optax.sgd(learning_rate)

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params))

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    del client_state
    local = train_locally(loss_fn, optimizer, state.params, batches, key)
    steps = jnp.maximum(local.num_steps, 1.)
    normalized = jax.tree.map(lambda y, x: (y - x) / steps,
                              local.params, state.params)
    return ClientResult(Update(normalized, local.num_steps),
                        client_weight(batches, weighting),
                        {'train_loss': local.loss})

  def server_update(state: ServerState, mean: Update) -> ServerState:
    delta = jax.tree.map(lambda d: mean.num_steps * d, mean.normalized_delta)
    return apply_pseudo_gradient(server_optimizer, state, delta)

  def zero_update(params) -> Update:
    return Update(zeros_like_params(params), jnp.float32(0.))

  return FederatedAlgorithm(init, client_update, server_update, zero_update=zero_update)


Settings = NoSettings


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """FedNova from the (plain SGD) client optimizer, the server optimizer and
  the weighting."""
  del settings
  return fednova(common.model, plain_sgd_learning_rate(common.client_optimizer, 'fednova'),
                 make_optimizer(common.server_optimizer, 'server.optimizer'),
                 common.checked_weighting())
