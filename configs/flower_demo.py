"""Flower's simulation demo: LeNet-5 on MNIST, 100 IID clients, 10% per round.

The set-up of Flower's PyTorch simulation example: 100 clients with IID
shares, each holding out 10% of its data; FedAvg with 10 clients per round
(fraction_fit 0.1), each training 1 epoch of batch 32 with SGD (learning rate
0.01, momentum 0.9); 10 rounds. Every round is evaluated on the server's test
set (`test_*`) and on the held-out data of a sampled 5% of the clients
(fraction_evaluate 0.05: `sampled_clients_test_*`). The end of the run prints
the history per round.

The data is TFDS MNIST when it is prepared as ArrayRecord files
(`tfds build mnist --file_format=array_record`, or once
`--config=configs/tfds_mnist.py --config.data.download=True`), and otherwise
the embedded 8x8 digits; config.json records which. Digits' 100 clients hold
about 13 training examples each, one local step per round against MNIST's
~17, so on digits the demo trains 100 rounds (evaluated every 10) at
learning rate 0.1; with Flower's 0.01 it reaches 0.33 test accuracy after
200 rounds.

`--config=configs/flower_demo.py:centralized` (or `--config.centralized=True`)
is the centralized baseline: the same model, optimizer and rounds on all
training data pooled into one client, each round training on as many
examples as the 10 sampled clients do.
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults
from fedjax_sim.data.tfds_loader import is_prepared

MODES = ('federated', 'centralized')


def get_config(mode: str = 'federated') -> ml_collections.ConfigDict:
  if mode not in MODES:
    raise ValueError(f'config argument must be one of {MODES}, got {mode!r}')
  config = default.get_config()
  config.rounds, config.eval_every = 10, 1
  if is_prepared('mnist'):
    config.data = defaults('data', name='tfds', tfds_name='mnist', num_clients=100,
                           partition='iid')
  else:
    config.data.update(num_clients=100, partition='iid')
    config.rounds, config.eval_every = 100, 10
  config.model = ml_collections.ConfigDict({'name': 'lenet5', 'options': {}})
  config.client.batch_size = 32
  config.client.optimizer.update(learning_rate=0.01 if config.data.name == 'tfds' else 0.1,
                                 momentum=0.9)
  config.personalization.client_test_fraction = 0.1
  config.client_eval_fraction = 0.05
  config.clients_per_round = 10
  config.centralized = mode == 'centralized'
  return config
