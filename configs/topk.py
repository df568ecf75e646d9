"""FedAvg with top-k sparsification of the client uploads (the 5% largest
coordinates of each tensor, as value + int32 index) and error feedback: ~10x
fewer upload bytes than float32. Eval lines report `upload_bytes`, the round's
total upload."""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.compression.update(name='topk', fraction=0.05, error_feedback=True)
  return config
