"""FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks").

FedAvg whose clients minimize `loss(w) + mu/2 * ||w - w_global||^2`: the
proximal term keeps local models near the broadcast model under heterogeneous
data. `train_loss` reports the data loss without the proximal term.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from fedjax_sim.algorithms.fedavg import (ServerState, apply_pseudo_gradient,
                                          check_weighting, client_weight)
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer


def fedprox(model: Model, client_optimizer: optax.GradientTransformation,
            server_optimizer: optax.GradientTransformation, mu: float,
            weighting: str = 'num_examples') -> FederatedAlgorithm:
  """Builds FedProx with proximal strength `mu` (`mu=0` is FedAvg)."""

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params))

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    del client_state

    def add_proximal_grad(grads, local):
      return jax.tree.map(lambda g, w, w0: g + mu * (w - w0),
                          grads, local, state.params)

    local = train_locally(loss_fn, client_optimizer, state.params, batches, key,
                          add_proximal_grad)
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    return ClientResult(delta, client_weight(batches, weighting),
                        {'train_loss': local.loss})

  def server_update(state: ServerState, mean_delta) -> ServerState:
    return apply_pseudo_gradient(server_optimizer, state, mean_delta)

  return FederatedAlgorithm(init, client_update, server_update)


def from_config(config: ml_collections.ConfigDict, model: Model,
                num_clients: int) -> FederatedAlgorithm:
  """FedProx from `fedprox.mu` and FedAvg's optimizer and weighting fields."""
  del num_clients
  mu = config.get('fedprox', {}).get('mu', 0.01)
  if not mu >= 0:
    raise ConfigError(f'fedprox.mu must be >= 0, got {mu}')
  return fedprox(model, make_optimizer(config.client.optimizer, 'client.optimizer'),
                 make_optimizer(config.server.optimizer, 'server.optimizer'),
                 float(mu), check_weighting(config))
