"""20% sign-flip attackers (each sends -4 x its update) against FedAvgM.

Aggregation is the weighted mean; the options of every robust rule are set as
in configs/median.py, trimmed_mean.py and krum.py, so they can be compared with
`--config.aggregator.name=median` (or `trimmed_mean`, `krum`), and other
attacks with `--config.attack.kind=label_flip` (or `scale`, `none`).
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.attack.update(kind='sign_flip', fraction=0.2, scale=4.)
  config.aggregator.update(trim_fraction=0.2, num_byzantine=2, num_selected=6)
  config.server.optimizer.momentum = 0.9
  if data == 'synthetic':
    config.rounds, config.eval_every = 200, 40
  return config
