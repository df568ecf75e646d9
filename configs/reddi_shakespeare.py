"""Reddi et al. 2021 ("Adaptive Federated Optimization"), Shakespeare next-
character prediction with FedAdam.

Sources: [P] the paper (arXiv 2003.00295); [H] google-research/federated
`optimization/docs/hyperparameters.md` (the authors' table of the setups and
best hyper-parameters found for the paper; learning rates and eps there are
base-10 logs); [R] google-research/federated `optimization/README.md`.
The paper's appendix tables could not be read here, so [P] items (client
counts, metrics) rest on secondary summaries of the paper.

Data and model: Shakespeare by speaking role, 715 clients ([P] dataset
statistics table); sequences of 80 characters ([H] task-specific table,
`shakespeare_character_sequence_length` 80); an RNN with 2 LSTM layers ([R]
task table; `char_lstm`: 8-dim embedding, two LSTM layers of 256 units, as in
TFF's Shakespeare model, sizes not checked against the paper here).
Protocol ([H] "Default values" / cross-task tables): 10 clients per round,
batch 4, 1200 rounds, 1 client epoch, client SGD.
Server Adam with beta1 = 0.9, beta2 = 0.99, as recalled for the paper's
Sec. 5 (beta1 = 0.9, beta2 = 0.99 fixed for FedAdam/FedYogi; not confirmed
from the paper text here); note [H] instead says its Adam flags kept the
Keras defaults 0.9 / 0.999.
Best FedAdam values ([H] "Best hyperparameters", row shakespeare_character,
column Adam): client lr 10^0, server lr 10^-2, eps (tau) 10^-3. ([H] lists
FedAdagrad, FedYogi and FedAvgM, not FedAdam, as the best methods here.)
Vocabulary layout of the `shakespeare` loader (fedjax_sim/data/
benchmark_features.py, TFF's character table): pad 0, BOS 1, EOS 2, the 86
characters 3..88, OOV 89 (90 logits); accuracy skips padding, BOS, EOS and
OOV targets. `--config=configs/reddi_shakespeare.py:DIR` (the directory of
the SQLite files).
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults

BOS, EOS, OOV = 1, 2, 89


def get_config(path: str = 'data/shakespeare') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1200
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = defaults('data', name='shakespeare', path=path, sequence_length=80)
  config.model.name = 'char_lstm'
  config.model.options = ml_collections.ConfigDict(
      {'embed_dim': 8, 'hidden': (256, 256), 'task': {'unscored': (BOS, EOS, OOV)}})
  config.client.batch_size = 4
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 1.
  config.server.optimizer.update(name='adam', learning_rate=1e-2, b2=0.99, eps=1e-3)
  return config
