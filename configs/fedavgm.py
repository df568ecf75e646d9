"""FedAvgM: FedAvg with server SGD momentum (Hsu et al. 2019; Reddi et al. 2021).

Clients run plain local SGD as in FedAvg; only the server optimizer changes.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.server.optimizer.momentum = 0.9
  return config
