"""FedDyn (Acar et al. 2021): each client's dynamic regularizer aligns its local
optimum with the global one; alpha from the paper's grid {0.1, 0.01, 0.001}."""

import ml_collections

from configs import default
from fedjax_sim.algorithms import feddyn


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'feddyn'
  config.feddyn = ml_collections.ConfigDict(feddyn.Settings()._asdict())  # the one default
  return config
