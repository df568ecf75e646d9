"""Default experiment: FedAvg on the embedded digits data, 20 clients, Dirichlet(0.5)."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.algorithm = 'fedavg'
  config.rounds = 60
  config.clients_per_round = 10
  config.eval_every = 10
  config.weighting = 'num_examples'  # or 'uniform'

  config.data = ml_collections.ConfigDict()
  config.data.name = 'digits'
  config.data.num_clients = 20
  config.data.partition = 'dirichlet'  # or 'iid'
  config.data.alpha = 0.5
  config.data.test_fraction = 0.2

  config.model = ml_collections.ConfigDict()
  config.model.name = 'mlp'
  config.model.options = ml_collections.ConfigDict({'hidden': (200,)})

  config.client = ml_collections.ConfigDict()
  config.client.optimizer = ml_collections.ConfigDict(
      {'name': 'sgd', 'learning_rate': 0.1, 'momentum': 0.})
  config.client.batch_size = 20
  config.client.epochs = 1
  config.client.steps = 0  # > 0: exactly this many local steps per client

  config.server = ml_collections.ConfigDict()
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'sgd', 'learning_rate': 1., 'momentum': 0.})

  config.engine = ml_collections.ConfigDict()
  config.engine.strategy = 'vmap'  # 'vmap' | 'chunked' | 'sequential'
  config.engine.chunk_size = 8
  return config
