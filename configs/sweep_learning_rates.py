"""A Reddi-style learning-rate sweep: client x server learning rates of
FedAvg on the digits default, 4 x 3 cells, 3 seeds each (36 members).

Every member differs only in traced values (learning rates, seed), so the
whole grid trains as one program per round (docs/sweeps.md). `data.seed`
keeps the partition fixed while `seed` varies the initial model, the
clients sampled and their shuffling. Run it with
`python scripts/train.py --config=configs/sweep_learning_rates.py --workdir=/tmp/lr_sweep`.
"""

import ml_collections

from configs import default
from fedjax_sim.config.sweep import sweep_section


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config('digits')
  config.data.seed = 0
  config.sweep = sweep_section({
      'client.optimizer.learning_rate': (0.01, 0.03, 0.1, 0.3),
      'server.optimizer.learning_rate': (0.3, 1., 3.),
      'seed': (0, 1, 2),
  })
  return config
