"""DP-FedAvg with adaptive clipping (Andrew et al. 2021): the clip norm
follows the target quantile of the update norms (geometric update, rate eta_C),
learned from a noisy count (std sigma_b = clients_per_round / 20, the paper's
choice); the update noise is raised to z_delta so the total privacy equals that
of multiplier z. Same clients and privacy budget as `configs/dp_fedavg.py`,
starting from a clip of 0.05.
"""

import ml_collections

from configs import dp_fedavg


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = dp_fedavg.get_config(data)
  config.aggregator.update(adaptive=True, clip=0.05,
                           count_noise_multiplier=config.clients_per_round / 20)
  return config
