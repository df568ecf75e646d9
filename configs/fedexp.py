"""FedExP (Jhunjhunwala et al. 2023): FedAvg with an extrapolated server step
eta = max(1, mean ||d_i||^2 / (2 (||mean d_i||^2 + eps)))."""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'fedexp'
  return config
