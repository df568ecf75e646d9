"""FedAvg with stochastic 4-bit quantization of the client uploads (unbiased,
per-tensor min/max scaling) and error feedback: ~8x fewer upload bytes than
float32. Eval lines report `upload_bytes`, the round's total upload."""

import ml_collections

from configs import default


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  config = default.get_config(data)
  config.compression.update(name='quantize', bits=4, error_feedback=True)
  return config
