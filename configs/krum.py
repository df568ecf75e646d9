"""FedAvg with Multi-Krum aggregation (Blanchard et al. 2017).

Tolerates `num_byzantine` = 2 of the 10 clients per round and averages the
`num_selected` = 6 lowest-score updates (`num_selected` = 1 is Krum). Server
momentum 0.9 (FedAvgM); Synthetic(1, 1) runs 200 rounds.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.aggregator.update(name='krum', num_byzantine=2, num_selected=6)
  config.server.optimizer.momentum = 0.9
  if data == 'synthetic':
    config.rounds, config.eval_every = 200, 40
  return config
