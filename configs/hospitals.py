"""Breast-cancer diagnosis across 5 simulated hospitals (tabular, binary).

The embedded real default of the CSV path: scikit-learn's bundled Wisconsin
breast-cancer table (569 patients, 30 features, `diagnosis` benign /
malignant), split over 5 hospitals by a Dirichlet(1.0) draw over the labels,
so the hospitals' case mixes differ. Logistic regression, FedAvg, every
hospital in every round. Binary runs also report precision, recall, F1 and
ROC AUC (malignant is the positive class: labels are sorted).

Your own file: `--config.data.path=my.csv --config.data.label=<column>`, and
either `--config.data.client_column=hospital` or a partition rule
(`data.partition` 'iid' | 'dirichlet', `data.num_clients`, `data.alpha`).
"""

import ml_collections

from configs import default
from fedjax_sim.config.schema import defaults


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = 50, 10, 5
  config.data = defaults('data', name='csv', path='sklearn:breast_cancer', label='diagnosis',
                         num_clients=5, alpha=1.0)
  config.model.name = 'logistic'
  config.model.options = ml_collections.ConfigDict()
  config.client.batch_size = 16
  config.client.optimizer.learning_rate = 0.05
  return config
