"""FedAvg with the coordinate-wise trimmed mean aggregator (Yin et al. 2018).

Drops the `trim_fraction` = 20% largest and smallest values of each coordinate
(2 of 10 clients per side). Server momentum 0.9 (FedAvgM); Synthetic(1, 1)
runs 200 rounds.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.aggregator.update(name='trimmed_mean', trim_fraction=0.2)
  config.server.optimizer.momentum = 0.9
  if data == 'synthetic':
    config.rounds, config.eval_every = 200, 40
  return config
