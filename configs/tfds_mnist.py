"""FedAvg on TFDS MNIST split pathologically non-IID (McMahan et al. 2017).

100 clients holding 2 single-label shards each, the paper's 2NN (200-200 MLP),
10 clients per round, batch 10, one local epoch. Needs MNIST as TFDS ArrayRecord
files: `data.download=True` prepares them on first use (preparing image data
sets needs `tensorflow-cpu` installed; see fedjax_sim/data/tfds_loader.py).
Other partitions: `--config.data.partition=iid|dirichlet|powerlaw` with
`data.alpha` / `data.powerlaw_sigma`.
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds = 200
  config.eval_every = 20
  config.data = defaults('data', name='tfds', tfds_name='mnist', num_clients=100,
                         partition='shards', download=True)
  config.model.options.hidden = (200, 200)
  config.client.batch_size = 10
  config.client.optimizer.learning_rate = 0.05
  return config
