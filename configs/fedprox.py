"""FedProx (Li et al. 2020): FedAvg with a proximal term mu/2 ||w - w_global||^2.

mu = 1 on Synthetic(1, 1), the paper's best value there; 0.01 on digits.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'fedprox'
  if data == 'synthetic':
    config.fedprox.mu = 1.
  return config
