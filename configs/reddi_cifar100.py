"""Reddi et al. 2021 ("Adaptive Federated Optimization"), CIFAR-100 with
ResNet-18 (GroupNorm) and FedAdam.

Protocol (paper, Sec. 5 and App. C/D): CIFAR-100 split over 500 clients by
the Pachinko allocation of the TFF/FedJAX data set, ResNet-18 with group
normalization (`resnet18_gn`, Hsieh et al. 2020), 10 clients per round, 1
local epoch, batch 20, 4000 rounds, client SGD, server Adam with beta1 = 0.9,
beta2 = 0.99. Learning rates: the paper's best FedAdam grid point for
CIFAR-100 (App. D, log10 table): client 10^-1.5, server 10^0; tau (eps) = 0.1,
the paper's best adaptivity for this task (App. D). Caveat: the paper trains
on random 24x24 crops (with flips) of the images; this model takes the 32x32
images as given, with the CIFAR stem (3x3 convolution, no max-pooling).
`--config=configs/reddi_cifar100.py:DIR` (the directory of the
SQLite files).
"""

import ml_collections

from configs import default


def get_config(path: str = 'data/cifar100') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 4000
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = ml_collections.ConfigDict({'name': 'cifar100', 'path': path})
  config.model.name = 'resnet18_gn'
  config.model.options = ml_collections.ConfigDict({'width': 64, 'groups': 2})
  config.client.batch_size = 20
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** -1.5
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'adam', 'learning_rate': 1., 'b1': 0.9, 'b2': 0.99, 'eps': 0.1})
  return config
