"""q-FedAvg (Li et al. 2020): fair federated learning, q-FFL objective.

`qfedavg.q` > 0 gives clients with a higher loss more weight (q = 0 is
FedAvg with uniform client weights). Local training is plain SGD; its
learning rate `eta` also sets the Lipschitz estimate L = 1 / eta.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'qfedavg'
  config.qfedavg.q = 0.2
  config.client.optimizer.learning_rate = 0.2 if data == 'digits' else 0.1
  return config
