"""FedExP (Jhunjhunwala et al. 2023, "FedExP: Speeding up federated averaging
via extrapolation").

FedAvg whose server extrapolates: `x += eta * mean_i d_i` with
`eta = max(1, mean_i ||d_i||^2 / (2 (||mean_i d_i||^2 + eps)))`, means over
the sampled clients with their weights (`config.weighting`). The clients'
mean squared update norm is the round's second reduce (`ClientResult.side`,
`FederatedAlgorithm.receive_side`), apart from the aggregator: with a
clipping or noising aggregator, `mean_i d_i` is the aggregate and the norms
are the clients' own. The paper also reports the mean of the last two
iterates; this module keeps the last one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import fedjax_sim as fs
from fedjax_sim.algorithms.common import Common
from fedjax_sim.algorithms.fedavg import client_weight
from fedjax_sim.models import masked_loss
from fedjax_sim.optimizers import make_optimizer
from fedjax_sim.core.rules import check, is_number


class Settings(NamedTuple):
  """`config.fedexp`: `eps` keeps the step finite when the clients' updates
  cancel out (the paper's epsilon)."""

  eps: float = 1e-3


class ServerState(NamedTuple):
  params: Any
  mean_sq_norm: jax.Array  # this round's mean_i ||d_i||^2 (set by receive_side)
  step_size: jax.Array  # the last server step's eta


def fedexp(model: fs.Model, client_optimizer: optax.GradientTransformation,
           eps: float = Settings().eps, weighting: str = 'num_examples'
           ) -> fs.FederatedAlgorithm:
  """Builds FedExP with local `client_optimizer` and the step's `eps`."""

  def init(params) -> ServerState:
    return ServerState(params, jnp.float32(0.), jnp.float32(1.))

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches, key) -> fs.ClientResult:
    del client_state
    local = fs.train_locally(loss_fn, client_optimizer, state.params, batches, key)
    delta = jax.tree.map(jnp.subtract, local.params, state.params)
    return fs.ClientResult(delta, client_weight(batches, weighting),
                           {'train_loss': local.loss},
                           side=optax.tree.norm(delta, squared=True))

  def receive_side(state: ServerState, mean_sq_norm: jax.Array) -> ServerState:
    return state._replace(mean_sq_norm=mean_sq_norm)

  def server_update(state: ServerState, mean_delta) -> ServerState:
    eta = jnp.maximum(1., state.mean_sq_norm / (
        2. * (optax.tree.norm(mean_delta, squared=True) + eps)))
    params = jax.tree.map(lambda p, d: p + eta * d, state.params, mean_delta)
    return ServerState(params, state.mean_sq_norm, eta)

  return fs.FederatedAlgorithm(init, client_update, server_update,
                               receive_side=receive_side)


def from_settings(settings: Settings, common: Common) -> fs.FederatedAlgorithm:
  """FedExP from `eps`, the client optimizer and the weighting."""
  check('fedexp', settings, [('eps', lambda v: is_number(v) and v > 0, 'a number > 0')])
  return fedexp(common.model, make_optimizer(common.client_optimizer, 'client.optimizer'),
                settings.eps, common.checked_weighting())
