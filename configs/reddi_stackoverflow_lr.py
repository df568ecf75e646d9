"""Reddi et al. 2021 ("Adaptive Federated Optimization"), StackOverflow tag
prediction (Stack Overflow LR) with FedAdam.

Sources: [P] the paper (arXiv 2003.00295); [H] google-research/federated
`optimization/docs/hyperparameters.md` (the authors' table of the setups and
best hyper-parameters found for the paper; learning rates and eps there are
base-10 logs); [R] google-research/federated `optimization/README.md`.
The paper's appendix tables could not be read here, so [P] items (client
counts, metrics) rest on secondary summaries of the paper.

Data and model: StackOverflow by user ([P] dataset statistics table), each
post a bag of words over the 10,000 most frequent words, 500 most frequent
tags, at most 1000 posts per client ([H] task-specific table:
`stackoverflow_tag_word_vocab_size` 10000, `stackoverflow_tag_tag_vocab_size`
500, `max_elements_per_user` 1000); normalized counts, TFF's
`stackoverflow_tag_prediction` preprocessing (`data.task = 'tags'`); a
logistic regression classifier ([R] task table; `tag_logreg`, one-vs-rest,
per-tag sigmoid cross-entropy, recall@5 reported as `accuracy`, recall@5
being the paper's metric for this task [P]).
Protocol ([H] "Default values" / cross-task tables): 10 clients per round,
batch 100, 1500 rounds, 1 client epoch, client SGD.
Server Adam with beta1 = 0.9, beta2 = 0.99, as recalled for the paper's
Sec. 5 (beta1 = 0.9, beta2 = 0.99 fixed for FedAdam/FedYogi; not confirmed
from the paper text here); note [H] instead says its Adam flags kept the
Keras defaults 0.9 / 0.999.
Best FedAdam values ([H] "Best hyperparameters", row stackoverflow_tag,
column Adam): client lr 10^2, server lr 10^-0.5, eps (tau) 10^-5. ([H] lists
FedAdagrad as the best method for this task: client 10^2, server 10^1, eps
10^-2.)
Evaluation uses a seeded subset of `data.test_clients` test clients (the
paper validates on 10,000 test examples, [H] `num_validation_examples`).
Storage: the loader keeps each post's bag of words sparsely, 8 bytes per
stored word, every post padded to the split's most distinct words (exact; one
extra pass over the file when the cache is built). `data.bow_max_words = K`
caps that at K words (a longer post keeps its K most frequent words, which
changes its logits) when a few long posts make the stores too large.
`model.options.vocab_size` follows `data.bow_vocab_size` (one shared field;
a smaller model vocabulary is a ConfigError).
`--config=configs/reddi_stackoverflow_lr.py:DIR` (the SQLite files'
directory).
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults


def get_config(path: str = 'data/stackoverflow') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 10
  config.eval_every = 100
  vocab_size = ml_collections.FieldReference(10_000)
  config.data = defaults('data', name='stackoverflow', path=path, task='tags',
                         bow_vocab_size=vocab_size, max_client_examples=1000,
                         test_clients=100)
  config.model.name = 'tag_logreg'
  config.model.options = ml_collections.ConfigDict(
      {'vocab_size': vocab_size, 'task': {'top_k': 5}})
  config.client.batch_size = 100
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** 2.
  config.server.optimizer.update(name='adam', learning_rate=10 ** -0.5, b2=0.99, eps=1e-5)
  return config
