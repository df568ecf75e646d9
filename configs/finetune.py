"""FedAvg with local fine-tuning: personalization by a few local SGD steps.

20% of every client's data is held out; each evaluation fine-tunes the global
model for `personalization.finetune_steps` SGD steps on a client's remaining
data and compares it (`personalized_accuracy`) with the global model
(`local_accuracy`) on the held-out part.
"""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.personalization.client_test_fraction = 0.2
  if data == 'digits':
    config.personalization.update({'finetune_steps': 5, 'learning_rate': 0.05})
  else:
    config.personalization.update({'finetune_steps': 20, 'learning_rate': 0.01})
  return config
