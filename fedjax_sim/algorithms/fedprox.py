"""FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks").

FedAvg whose clients minimize `loss(w) + mu/2 * ||w - w_global||^2`: the
proximal term keeps local models near the broadcast model under heterogeneous
data. `train_loss` reports the data loss without the proximal term.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from fedjax_sim.algorithms.common import Common
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.models.model import Model
from fedjax_sim.optimizers import make_optimizer
from fedjax_sim.core.rules import check, is_number


def fedprox(model: Model, client_optimizer: optax.GradientTransformation,
            server_optimizer: optax.GradientTransformation, mu: float,
            weighting: str = 'num_examples',
            client_weights: jax.Array | None = None) -> FederatedAlgorithm:
  """Builds FedProx with proximal strength `mu` (`mu=0` is FedAvg);
  `client_weights` as in `fedavg`."""

  def add_proximal_grad(grads, local, global_params):
    return jax.tree.map(lambda g, w, w0: g + mu * (w - w0), grads, local, global_params)

  return fedavg(model, client_optimizer, server_optimizer, weighting, add_proximal_grad,
                client_weights)


class Settings(NamedTuple):
  """`config.fedprox`: `mu`, the proximal strength (>= 0)."""

  mu: float = 0.01


def from_settings(settings: Settings, common: Common) -> FederatedAlgorithm:
  """FedProx from `mu` and FedAvg's optimizers and weighting."""
  check('fedprox', settings, [('mu', lambda v: is_number(v) and v >= 0, 'a number >= 0')])
  return fedprox(common.model, make_optimizer(common.client_optimizer, 'client.optimizer'),
                 make_optimizer(common.server_optimizer, 'server.optimizer'),
                 settings.mu, common.checked_weighting())
