"""FedDyn (Acar et al. 2021): each client's dynamic regularizer aligns its local
optimum with the global one; alpha from the paper's grid {0.1, 0.01, 0.001}."""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'feddyn'
  return config
