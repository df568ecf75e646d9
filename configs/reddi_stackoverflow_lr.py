"""Reddi et al. 2021 ("Adaptive Federated Optimization"), StackOverflow tag
prediction (Stack Overflow LR) with FedAdam.

Protocol (paper, Sec. 5 and App. C/D; the same numbers are in the
reproduction flags of google-research/federated's `optimization` and
`fedopt_guide` experiments): StackOverflow by user, each post a bag of words
over the 10,000 most frequent words (normalized counts, TFF's
`stackoverflow_tag_prediction` preprocessing: `data.task = 'tags'`),
one-vs-rest logistic regression onto the 500 most frequent tags
(`tag_logreg`, per-tag sigmoid cross-entropy, recall@5 reported as
`accuracy`), at most 1000 posts per client, 10 clients per round, 1 local
epoch, batch 100, 1500 rounds, client SGD, server Adam with beta1 = 0.9,
beta2 = 0.99, tau (eps) = 10^-5. Learning rates: the paper's best FedAdam
grid point for Stack Overflow LR (App. D, log10 table): client 10^2, server
10^-0.5 (FedAdagrad, server 10^1 and eps 10^-2, scores slightly higher on
this task in the paper). Evaluation uses a seeded subset of `data.test_clients`
test clients (the paper validates on 10,000 test examples).
Caveat: the loader stores each post's bag of words densely (40 KB a post),
so the full data set needs `data.max_client_examples` and a lot of disk; the
cache is built once. `--config=configs/reddi_stackoverflow_lr.py:DIR` (the
SQLite files' directory).
"""

import ml_collections

from configs import default


def get_config(path: str = 'data/stackoverflow') -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 1500
  config.clients_per_round = 10
  config.eval_every = 100
  config.data = ml_collections.ConfigDict(
      {'name': 'stackoverflow', 'path': path, 'task': 'tags',
       'bow_vocab_size': 10_000, 'num_tags': 500, 'max_client_examples': 1000,
       'test_clients': 100})
  config.model.name = 'tag_logreg'
  config.model.options = ml_collections.ConfigDict({'task': {'top_k': 5}})
  config.client.batch_size = 100
  config.client.epochs = 1
  config.client.optimizer.learning_rate = 10 ** 2.
  config.server.optimizer = ml_collections.ConfigDict(
      {'name': 'adam', 'learning_rate': 10 ** -0.5, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-5})
  return config
