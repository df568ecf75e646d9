"""FedAvg with logistic regression on FedProx's Synthetic(alpha, beta), 30 clients.

`--config=configs/synthetic.py` is Synthetic(0, 0);
`--config=configs/synthetic.py:1,1` is Synthetic(1, 1).
"""

import ml_collections

from configs import default


def get_config(alpha_beta: str = '0,0') -> ml_collections.ConfigDict:
  alpha, beta = (float(v) for v in alpha_beta.split(','))
  config = default.get_config()
  default.use_synthetic(config, alpha, beta)
  return config
