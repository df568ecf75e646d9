"""FedDyn (Acar et al. 2021, "Federated learning based on dynamic
regularization").

Client k keeps `g_k` (zeros at first), its estimate of its loss gradient at
its last local model, and minimizes
`L_k(w) - <g_k, w> + alpha/2 ||w - x||^2` from the broadcast model `x` with
its local optimizer; then `g_k -= alpha * (w_k - x)`. The server keeps
`h -= alpha/N * sum_k (w_k - x)` (N clients in all) and sets
`x = mean_k w_k - h / alpha`.

Clients are weighted uniformly, as in the paper; a sampled client with no
real step keeps its `g_k` and contributes nothing (the mean runs over the
clients that trained; its weight stays 1 for `h`'s sum over all N, and under
compression with error feedback it still uploads its residual).
`config.weighting` is not used, and the update assumes a (weighted) mean
aggregator.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import fedjax_sim as fs
from fedjax_sim.algorithms.common import Common
from fedjax_sim.core.aggregator import safe_divide
from fedjax_sim.models import masked_loss
from fedjax_sim.optimizers import make_optimizer
from fedjax_sim.core.rules import check, is_number


class Settings(NamedTuple):
  """`config.feddyn`: `alpha`, the dynamic regularizer's strength."""

  alpha: float = 0.01


class ServerState(NamedTuple):
  params: Any
  h: Any


class Update(NamedTuple):
  """What a client sends: its model delta, and 1 if it trained."""

  delta: Any
  trained: jax.Array


def feddyn(model: fs.Model, client_optimizer: optax.GradientTransformation,
           alpha: float, num_clients: int, clients_per_round: int) -> fs.FederatedAlgorithm:
  """Builds FedDyn; the server samples `clients_per_round` of `num_clients`."""
  sampled_fraction = clients_per_round / num_clients

  def init(params) -> ServerState:
    return ServerState(params, jax.tree.map(jnp.zeros_like, params))

  def client_init(params):
    return jax.tree.map(jnp.zeros_like, params)

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, g, batches, key) -> fs.ClientResult:

    def regularized(grads, local):
      return jax.tree.map(lambda gr, gk, w, x: gr - gk + alpha * (w - x),
                          grads, g, local, state.params)

    local = fs.train_locally(loss_fn, client_optimizer, state.params, batches, key,
                             regularized)
    trained = local.num_steps > 0
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    new_g = jax.tree.map(lambda gk, d: jnp.where(trained, gk - alpha * d, gk), g, delta)
    return fs.ClientResult(Update(delta, trained.astype(jnp.float32)), jnp.float32(1.),
                           {'train_loss': local.loss}, new_g)

  def server_update(state: ServerState, mean: Update) -> ServerState:
    # mean.delta averages over all sampled clients (the empty ones sent 0).
    h = jax.tree.map(lambda h, d: h - alpha * sampled_fraction * d, state.h, mean.delta)
    params = jax.tree.map(lambda x, d, h: x + d - h / alpha,
                          state.params, safe_divide(mean.delta, mean.trained), h)
    return ServerState(params, h)

  def zero_update(params) -> Update:
    return Update(jax.tree.map(jnp.zeros_like, params), jnp.float32(0.))

  return fs.FederatedAlgorithm(init, client_update, server_update, client_init,
                               zero_update=zero_update)


def from_settings(settings: Settings, common: Common) -> fs.FederatedAlgorithm:
  """FedDyn from `alpha`, the client optimizer and `clients_per_round`."""
  check('feddyn', settings, [('alpha', lambda v: is_number(v) and v > 0, 'a number > 0')])
  return feddyn(common.model, make_optimizer(common.client_optimizer, 'client.optimizer'),
                settings.alpha, common.num_clients, common.clients_per_round)
