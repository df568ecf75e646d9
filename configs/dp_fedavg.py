"""DP-FedAvg (McMahan et al. 2018) with a fixed clip: clip each client's update
to norm C, add N(0, (z C)^2) to the sum, divide by clients_per_round.

User-level DP needs many clients per round, so digits is spread over 200
clients (~7 examples each) with 50 sampled per round (q = 0.25); the eval lines
report epsilon at delta = 1e-5 (z = 1.5: epsilon ~8 after 60 rounds).
`:synthetic` uses 200 Synthetic(1, 1) clients of at most 200 examples.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.clients_per_round = 50
  config.data.num_clients = 200
  config.client.epochs = 3
  config.server.optimizer.momentum = 0.5
  config.aggregator.update(name='dp', clip=0.3, noise_multiplier=1.5, count_noise_multiplier=2.5)
  if data == 'synthetic':
    config.data.max_client_size = 200
  return config
