"""SCAFFOLD (Karimireddy et al. 2020): control variates correct client drift.

Needs plain local SGD (client.optimizer sgd without momentum).
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'scaffold'
  return config
