"""FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks").

FedAvg whose clients minimize `loss(w) + mu/2 * ||w - w_global||^2`: the
proximal term keeps local models near the broadcast model under heterogeneous
data. `train_loss` reports the data loss without the proximal term.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

from fedjax_sim.algorithms.fedavg import check_weighting, fedavg
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model
from fedjax_sim.optimizers import make_optimizer


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
