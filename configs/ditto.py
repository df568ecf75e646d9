"""Ditto (Li et al. 2021): FedAvg plus a personal model per client.

Each client keeps a personal model trained on `loss + ditto.lam / 2 *
||v - w||^2`; 20% of every client's data is held out to compare the global
model (`local_accuracy`) with the personal models (`personalized_accuracy`).
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.algorithm = 'ditto'
  config.ditto.lam = 2. if data == 'digits' else 0.5
  config.personalization.client_test_fraction = 0.2
  return config
