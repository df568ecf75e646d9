"""Reddi et al. 2021 ("Adaptive Federated Optimization"), Shakespeare next-
character prediction with FedAdam.

Protocol (paper, Sec. 5 and App. C/D): Shakespeare by speaking role (715
clients), sequences of 80 characters, the char-LSTM (`char_lstm`: 8-dim
embedding, two LSTM layers of 256 units, next-character logits at every
position), 10 clients per round, 1 local epoch, batch 4, 1200 rounds, client
SGD, server Adam with beta1 = 0.9, beta2 = 0.99, tau (eps) = 1e-3. Learning
rates: the paper's best FedAdam grid point for Shakespeare (App. D, log10
table): client 10^0, server 10^-2.
Vocabulary layout of the `shakespeare` loader (fedjax_sim/data/
benchmark_features.py, TFF's character table): pad 0, BOS 1, EOS 2, the 86
characters 3..88, OOV 89 (90 logits); accuracy skips padding, BOS, EOS and
OOV targets. `--config=configs/reddi_shakespeare.py:DIR` (the directory of
the SQLite files).
"""

import ml_collections

from configs import default

BOS, EOS, OOV = 1, 2, 89


def get_config(path: str = 'data/shakespeare') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1200
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = ml_collections.ConfigDict(
      {'name': 'shakespeare', 'path': path, 'sequence_length': 80})
  config.model.name = 'char_lstm'
  config.model.options = ml_collections.ConfigDict(
      {'embed_dim': 8, 'hidden': (256, 256), 'task': {'unscored': (BOS, EOS, OOV)}})
  config.client.batch_size = 4
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 1.
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'adam', 'learning_rate': 1e-2, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-3})
  return config
