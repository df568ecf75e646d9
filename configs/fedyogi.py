"""FedYogi (Reddi et al. 2021): Yogi on the pseudo-gradient, eps = tau = 1e-3, v0 = tau^2.

Clients run plain local SGD as in FedAvg; only the server optimizer changes.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.server.optimizer.update(name='yogi', learning_rate=0.01, b2=0.99, eps=1e-3,
                                 initial_accumulator=1e-6)
  return config
