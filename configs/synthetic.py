"""FedAvg with logistic regression on FedProx's Synthetic(alpha, beta), 30 clients."""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 100
  config.eval_every = 20
  config.data = ml_collections.ConfigDict({
      'name': 'synthetic', 'num_clients': 30, 'alpha': 0., 'beta': 0.,
      'test_fraction': 0.2, 'max_client_size': 0})
  config.model.name = 'logistic'
  config.model.options = ml_collections.ConfigDict()
  config.client.batch_size = 10
  config.client.optimizer.learning_rate = 0.01
  return config
