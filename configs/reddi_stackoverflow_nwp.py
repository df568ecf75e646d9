"""Reddi et al. 2021 ("Adaptive Federated Optimization"), StackOverflow next-
word prediction (Stack Overflow NWP) with FedAdam.

Sources: [P] the paper (arXiv 2003.00295); [H] google-research/federated
`optimization/docs/hyperparameters.md` (the authors' table of the setups and
best hyper-parameters found for the paper; learning rates and eps there are
base-10 logs); [R] google-research/federated `optimization/README.md`.
The paper's appendix tables could not be read here, so [P] items (client
counts, metrics) rest on secondary summaries of the paper.

Data and model: StackOverflow by user ([P] dataset statistics table);
10,000-word vocabulary, sequences of 20 tokens, at most 1000 examples per
client ([H] task-specific table: `stackoverflow_word_vocab_size` 10000,
`stackoverflow_word_sequence_length` 20, `max_elements_per_user` 1000; the
paper validates on 10,000 test examples, `num_validation_examples`, not
modelled here); an RNN with 1 LSTM layer ([R] task table; `nwp_lstm`: 96-dim
embedding, one LSTM layer of 670 units, dense projection to 96, output over
the vocabulary and special tokens, 4,050,748 parameters; 96/670/1 layer are
the defaults of google-research/federated's `so_nwp_*` flags).
Protocol ([H] "Default values" / cross-task tables): 50 clients per round,
batch 16, 1500 rounds, 1 client epoch, client SGD.
Server Adam with beta1 = 0.9, beta2 = 0.99, as recalled for the paper's
Sec. 5 (beta1 = 0.9, beta2 = 0.99 fixed for FedAdam/FedYogi; not confirmed
from the paper text here); note [H] instead says its Adam flags kept the
Keras defaults 0.9 / 0.999.
Best FedAdam values ([H] "Best hyperparameters", row stackoverflow_word,
column Adam): client lr 10^-0.5, server lr 10^-2, eps (tau) 10^-5.
(FedJAX's experiments/fed_avg/fed_avg.STACKOVERFLOW_WORD.flags uses client
0.5, server 0.02, beta2 0.999, eps 1e-8 and caps clients at 500 steps.)
`model.name = 'transformer'` swaps in the small causal Transformer (not in
the paper).
Vocabulary layout of the `stackoverflow` loader and of FedJAX
(fedjax/models/stackoverflow.py): pad 0, BOS 1, EOS 2, words 3..10002, OOV
10003 (10,004 logits); accuracy skips padding, BOS, EOS and OOV targets.
`--config=configs/reddi_stackoverflow_nwp.py:DIR` (the SQLite files' directory).
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults

VOCAB = 10_000
BOS, EOS, OOV = 1, 2, VOCAB + 3


def get_config(path: str = 'data/stackoverflow') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 50
  config.eval_every = 100
  config.data = defaults('data', name='stackoverflow', path=path, vocab_size=VOCAB,
                         sequence_length=20, max_client_examples=1000)
  config.model.name = 'nwp_lstm'
  config.model.options = ml_collections.ConfigDict(
      {'task': {'unscored': (BOS, EOS, OOV)}})
  config.client.batch_size = 16
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** -0.5
  config.server.optimizer.update(name='adam', learning_rate=1e-2, b2=0.99, eps=1e-5)
  return config
