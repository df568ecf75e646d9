"""Reddi et al. 2021 ("Adaptive Federated Optimization"), EMNIST character
recognition (EMNIST CR) with FedAdam.

Sources: [P] the paper (arXiv 2003.00295); [H] google-research/federated
`optimization/docs/hyperparameters.md` (the authors' table of the setups and
best hyper-parameters found for the paper; learning rates and eps there are
base-10 logs); [R] google-research/federated `optimization/README.md`.
The paper's appendix tables could not be read here, so [P] items (client
counts, metrics) rest on secondary summaries of the paper.

Data and model: EMNIST-62 by writer, 3,400 clients ([P] dataset statistics
table); the CNN with dropout ([R] task table; `cnn`: conv32-conv64-maxpool-
dropout-dense128-dropout, dropout 0.25/0.5, layer sizes as in TFF's
`emnist_models` CNN, not checked against the paper here).
Protocol ([H] "Default values" / cross-task tables): 10 clients per round,
batch 20, 1500 rounds, 1 client epoch, client SGD.
Server Adam with beta1 = 0.9, beta2 = 0.99, as recalled for the paper's
Sec. 5 (beta1 = 0.9, beta2 = 0.99 fixed for FedAdam/FedYogi; not confirmed
from the paper text here); note [H] instead says its Adam flags kept the
Keras defaults 0.9 / 0.999.
Best FedAdam values ([H] "Best hyperparameters", row emnist_character, column
Adam): client lr 10^-1.5, server lr 10^-2.5, eps (tau) 10^-4. ([H] lists
FedAdam, FedYogi and FedAvgM as the best methods for this task.)
FedJAX ships a different FedAdam setting for this task (experiments/fed_avg/
fed_avg.EMNIST_CONV.flags: server lr 1.0, eps 0.01, client lr 0.001 at batch
10). Needs the FedJAX/TFF SQLite files:
`--config=configs/reddi_emnist_cr.py:DIR` (their directory).
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults


def get_config(path: str = 'data/emnist') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = defaults('data', name='emnist', path=path)
  config.model.name = 'cnn'
  config.model.options = ml_collections.ConfigDict({'dropout_rate': 0.25, 'conv': 'auto'})
  config.client.batch_size = 20
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** -1.5
  config.server.optimizer.update(name='adam', learning_rate=10 ** -2.5, b2=0.99, eps=1e-4)
  return config
