"""Reddi et al. 2021 ("Adaptive Federated Optimization"), EMNIST character
recognition with FedAdam.

Protocol (paper, Sec. 5 and App. C/D): EMNIST-62 by writer (3,400 clients),
the CNN of the paper (`cnn`: conv32-conv64-maxpool-dropout-dense128-dropout;
dropout 0.25/0.5), 10 clients per round, 1 local epoch, batch 20, 1500 rounds,
client SGD, server Adam with beta1 = 0.9, beta2 = 0.99, tau (eps) = 1e-3.
Learning rates: the paper's best FedAdam grid point for EMNIST CR (App. D,
log10 learning-rate table): client 10^-1.5, server 10^-2.5. FedJAX ships a
different FedAdam setting for this task (experiments/fed_avg/
fed_avg.EMNIST_CONV.flags: server lr 1.0, eps 0.01, client lr 0.001 at batch
10). Needs the FedJAX/TFF SQLite files:
`--config=configs/reddi_emnist_cr.py:DIR` (their directory).
"""

import ml_collections

from configs import default


def get_config(path: str = 'data/emnist') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = ml_collections.ConfigDict({'name': 'emnist', 'path': path})
  config.model.name = 'cnn'
  config.model.options = ml_collections.ConfigDict({'dropout_rate': 0.25})
  config.client.batch_size = 20
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** -1.5
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'adam', 'learning_rate': 10 ** -2.5, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-3})
  return config
