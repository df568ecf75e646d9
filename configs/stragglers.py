"""FedProx's straggler experiment on Synthetic(1,1) (Li et al. 2020, Figure 1).

30 clients, 10 per round, 20 local epochs of batch 10 at learning rate 0.01,
logistic regression, 200 rounds. `stragglers.fraction` of each round's
clients (0, 0.5 or 0.9 in the paper) manage only a random part of their
work: FedAvg drops them (`get_config('fedavg')`, mode 'drop'); FedProx keeps
their partial work (`get_config('fedprox')`, mu = 0 by default; the paper's
mu = 1 with `--config.fedprox.mu=1`). Reproduce the table in
docs/client_behaviour.md with, e.g.,
`--config=configs/stragglers.py:fedprox --config.stragglers.fraction=0.9`.
"""

import ml_collections

from configs import default

ALGORITHMS = ('fedavg', 'fedprox')


def get_config(algorithm: str = 'fedprox') -> ml_collections.ConfigDict:
  if algorithm not in ALGORITHMS:
    raise ValueError(f'config argument must be one of {ALGORITHMS}, got {algorithm!r}')
  config = default.get_config('synthetic')
  config.rounds, config.eval_every = 200, 20
  config.client.epochs = 20
  config.algorithm = algorithm
  config.fedprox.mu = 0.
  config.stragglers.update(fraction=0.5, mode='drop' if algorithm == 'fedavg' else 'partial')
  return config
