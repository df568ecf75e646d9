"""Ditto (Li et al. 2021, "Ditto: Fair and Robust Federated Learning Through
Personalization").

The global model is trained exactly as FedAvg. Every client also keeps a
personal model `v_k` (persistent client state, initially the initial global
model); when sampled, it trains `v_k` with the client optimizer on the same
local batches on `loss(v_k) + lam/2 ||v_k - w||^2`, `w` the broadcast global
model. `lam = 0` is purely local training, large `lam` pulls `v_k` to `w`.
Personalized evaluation (`fedjax_sim.evaluation.personalization`) evaluates each
client's `v_k` on its local test part.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.common import Common
from fedjax_sim.algorithms.fedavg import ServerState, apply_pseudo_gradient, client_weight
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.optimizers import make_optimizer
from fedjax_sim.core.rules import check, is_number


def proximal_term(params, anchor, lam: float) -> jax.Array:
  """`lam/2 ||params - anchor||^2`."""
  sq = jax.tree.map(lambda p, a: jnp.sum(jnp.square(p - a)), params, anchor)
  return 0.5 * lam * sum(jax.tree.leaves(sq))


class PersonalParams(NamedTuple):
  """A Ditto client's persistent state: its personal model."""

  params: Any


def ditto(model: Model, client_optimizer: optax.GradientTransformation,
          server_optimizer: optax.GradientTransformation, lam: float,
          weighting: str = 'num_examples') -> FederatedAlgorithm:
  """Builds Ditto: FedAvg for the global model plus a personal model per client."""

  def init(params) -> ServerState:
    return ServerState(params, server_optimizer.init(params))

  def client_init(params) -> PersonalParams:
    return PersonalParams(params)

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, personal: PersonalParams,
                    batches: ClientBatches, key: jax.Array) -> ClientResult:
    anchor = state.params

    def personal_loss(params, batch, mask, step_key):
      return loss_fn(params, batch, mask, step_key) + proximal_term(params, anchor, lam)

    local = train_locally(loss_fn, client_optimizer, anchor, batches, key)
    own = train_locally(personal_loss, client_optimizer, personal.params, batches, key)
    delta = jax.tree.map(jnp.subtract, local.params, anchor)
    return ClientResult(delta, client_weight(batches, weighting),
                        {'train_loss': local.loss, 'personal_loss': own.loss},
                        PersonalParams(own.params))

  def server_update(state: ServerState, mean_delta) -> ServerState:
    return apply_pseudo_gradient(server_optimizer, state, mean_delta)

  return FederatedAlgorithm(init, client_update, server_update, client_init,
                            personal_params=lambda personal: personal.params)


class Settings(NamedTuple):
  """`config.ditto`: `lam` (>= 0), the pull of personal models to the global one."""

  lam: float = 0.1


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """Ditto from `lam`, the client and server optimizers and the weighting."""
  check('ditto', settings, [('lam', lambda v: is_number(v) and v >= 0, 'a number >= 0')])
  return ditto(common.model, make_optimizer(common.client_optimizer, 'client.optimizer'),
               make_optimizer(common.server_optimizer, 'server.optimizer'),
               float(settings.lam), common.checked_weighting())
