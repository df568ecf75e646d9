"""q-FedAvg (Li et al. 2020, "Fair Resource Allocation in Federated Learning").

q-FFL minimizes `sum_k F_k^(q+1) / (q+1)`, weighting clients with a high loss
more (q = 0 is the usual average loss). Each client evaluates its loss `F_k`
at the broadcast model `w` (over all its examples), runs local SGD with
learning rate `eta` to `w_k` and, with `L = 1 / eta`, sends

  Delta_k = F_k^q * L (w - w_k),
  h_k     = q F_k^(q-1) ||L (w - w_k)||^2 + L F_k^q;

the server steps `w <- w - sum_k Delta_k / sum_k h_k`. Clients send
`(Delta_k, h_k)` with weight 1 (0 for a client without a real local step),
so the engine's weighted mean is `(mean Delta, mean h)` and its ratio the ratio of
sums. As in the paper's code, `F_k` is offset by 1e-10 before the powers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.algorithms.common import Common, plain_sgd_learning_rate
from fedjax_sim.algorithms.fedavg import client_weight
from fedjax_sim.algorithms.full_pass import full_pass_loss
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm, zeros_like_params
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.core.rules import check, is_number

LOSS_OFFSET = 1e-10


class ServerState(NamedTuple):
  params: Any


class Update(NamedTuple):
  """What a client sends: the scaled step `Delta_k` and its curvature `h_k`."""

  delta: Any
  h: jax.Array


def qfedavg(model: Model, learning_rate: float, q: float) -> FederatedAlgorithm:
  """Builds q-FedAvg with local SGD at `learning_rate` (L = 1/learning_rate)."""
  client_optimizer = optax.sgd(learning_rate)
  lipschitz = 1. / learning_rate

  def init(params) -> ServerState:
    return ServerState(params)

  def loss_fn(params, batch, mask, key):
    return masked_loss(model, params, batch, mask, key)

  def client_update(state: ServerState, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    del client_state
    loss = full_pass_loss(model, state.params, batches) + LOSS_OFFSET
    local = train_locally(loss_fn, client_optimizer, state.params, batches, key)
    step = jax.tree.map(lambda w, wk: lipschitz * (w - wk), state.params,
                        local.params)
    delta = jax.tree.map(lambda s: loss ** q * s, step)
    h = q * loss ** (q - 1) * optax.tree.norm(step, squared=True) + lipschitz * loss ** q
    return ClientResult(Update(delta, h), client_weight(batches, 'uniform'),
                        {'train_loss': local.loss, 'global_loss': loss})

  def server_update(state: ServerState, mean: Update) -> ServerState:
    denom = jnp.maximum(mean.h, jnp.finfo(jnp.float32).tiny)
    return ServerState(jax.tree.map(lambda w, d: w - d / denom, state.params,
                                    mean.delta))

  def zero_update(params) -> Update:
    return Update(zeros_like_params(params), jnp.float32(0.))

  return FederatedAlgorithm(init, client_update, server_update, zero_update=zero_update)


class Settings(NamedTuple):
  """`config.qfedavg`: `q` (>= 0; 0 is FedAvg with L = 1 / learning rate)."""

  q: float = 1.


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """q-FedAvg from `q` and the (plain SGD) client optimizer."""
  check('qfedavg', settings, [('q', lambda v: is_number(v) and v >= 0, 'a number >= 0')])
  lr = plain_sgd_learning_rate(common.client_optimizer, 'qfedavg')
  return qfedavg(common.model, lr, float(settings.q))
