"""FedNova (Wang et al. 2020): normalized averaging of heterogeneous local steps.

Needs plain local SGD (client.optimizer sgd without momentum); with
client.epochs, clients with more data run more steps, which FedNova normalizes.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'fednova'
  return config
