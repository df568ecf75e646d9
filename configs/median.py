"""FedAvg with the coordinate-wise median aggregator (Yin et al. 2018).

Server momentum 0.9 (FedAvgM) makes up for the median's smaller, noisier steps
on non-IID clients; Synthetic(1, 1) runs 200 rounds.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.aggregator.name = 'median'
  config.server.optimizer.momentum = 0.9
  if data == 'synthetic':
    config.rounds, config.eval_every = 200, 40
  return config
