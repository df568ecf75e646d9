"""FedProx's mu against the straggler fraction on Synthetic(1, 1) (Li et al.
2020, Figure 1), 3 seeds per cell: mu in {0, 0.1, 1} x stragglers in
{0, 0.5, 0.9}, 27 members, one program per round.

As `configs/stragglers.py:fedprox` (20 local epochs of batch 10, learning
rate 0.01, 10 of 30 clients per round), with 100 rounds; stragglers keep
their partial work. `data.seed` keeps the data fixed across seeds.
"""

import ml_collections

from configs import stragglers
from fedjax_sim.config.sweep import sweep_section


def get_config() -> ml_collections.ConfigDict:
  config = stragglers.get_config('fedprox')
  config.rounds, config.eval_every = 100, 20
  config.data.seed = 0
  config.sweep = sweep_section({
      'fedprox.mu': (0., 0.1, 1.),
      'stragglers.fraction': (0., 0.5, 0.9),
      'seed': (0, 1, 2),
  })
  return config
