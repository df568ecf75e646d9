"""FedAdam (Reddi et al. 2021): Adam on the pseudo-gradient, eps = tau = 1e-3.

Clients run plain local SGD as in FedAvg; only the server optimizer changes.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.server.optimizer.update(name='adam', learning_rate=0.01, b2=0.99, eps=1e-3)
  return config
