"""Reddi et al. 2021 ("Adaptive Federated Optimization"), StackOverflow next-
word prediction with FedAdam.

Protocol (paper, Sec. 5 and App. C/D): StackOverflow by user, 10,000-word
vocabulary, sentences of 20 tokens, the paper's LSTM (`nwp_lstm`: 96-dim
embedding, one LSTM layer of 670 units, dense projection to 96, output over
the vocabulary and special tokens; 4,050,748 parameters), 50 clients per
round, 1 local epoch, batch 16, 1500 rounds, client SGD, server Adam with
beta1 = 0.9, beta2 = 0.99, tau (eps) = 1e-3. Learning rates: the paper's best
FedAdam grid point for Stack Overflow NWP (App. D, log10 table): client
10^-0.5, server 10^-2 (FedJAX's experiments/fed_avg/
fed_avg.STACKOVERFLOW_WORD.flags uses client 0.5, server 0.02, beta2 0.999,
eps 1e-8 and caps clients at 500 steps). `model.name = 'transformer'` swaps in
the small causal Transformer (not in the paper).
Vocabulary layout of the `stackoverflow` loader and of FedJAX
(fedjax/models/stackoverflow.py): pad 0, BOS 1, EOS 2, words 3..10002, OOV
10003 (10,004 logits); accuracy skips padding, BOS, EOS and OOV targets.
`--config=configs/reddi_stackoverflow_nwp.py:DIR` (the SQLite files' directory).
"""

import ml_collections

from configs import default

VOCAB = 10_000
BOS, EOS, OOV = 1, 2, VOCAB + 3


def get_config(path: str = 'data/stackoverflow') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 50
  config.eval_every = 100
  config.data = ml_collections.ConfigDict(
      {'name': 'stackoverflow', 'path': path, 'vocab_size': VOCAB,
       'sequence_length': 20})
  config.model.name = 'nwp_lstm'
  config.model.options = ml_collections.ConfigDict(
      {'task': {'unscored': (BOS, EOS, OOV)}})
  config.client.batch_size = 16
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** -0.5
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'adam', 'learning_rate': 1e-2, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-3})
  return config
