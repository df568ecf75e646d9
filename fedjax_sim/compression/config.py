"""Compression by config: `config.compression = {name: 'none' | 'quantize' |
'topk', bits, fraction, error_feedback}`."""

from __future__ import annotations

import ml_collections

from fedjax_sim.compression.compressor import Compressor
from fedjax_sim.compression.error_feedback import with_compression
from fedjax_sim.compression.quantize import stochastic_quantizer
from fedjax_sim.compression.topk import top_k
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.errors import ConfigError

NAMES = ('none', 'quantize', 'topk')
MAX_BITS = 16


def compressor_from_config(cfg: ml_collections.ConfigDict) -> Compressor | None:
  """The compressor `cfg` (the `compression` section) names; None for 'none'."""
  name = cfg.get('name', 'none')
  if name not in NAMES:
    raise ConfigError(f'compression.name must be one of {list(NAMES)}, got {name!r}')
  if name == 'quantize':
    bits = cfg.get('bits', 8)
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
      raise ConfigError(f'compression.bits must be an integer in [1, {MAX_BITS}], '
                        f'got {bits!r}')
    return stochastic_quantizer(bits)
  if name == 'topk':
    fraction = cfg.get('fraction', 0.1)
    if not 0 < fraction <= 1:
      raise ConfigError(f'compression.fraction must be in (0, 1], got {fraction!r}')
    return top_k(fraction)
  return None


def compress_from_config(config: ml_collections.ConfigDict,
                         algorithm: FederatedAlgorithm) -> FederatedAlgorithm:
  """`algorithm` with the compression `config.compression` asks for."""
  cfg = config.get('compression', {})
  compressor = compressor_from_config(cfg)
  if compressor is None:
    return algorithm
  error_feedback = cfg.get('error_feedback', True)
  if not isinstance(error_feedback, bool):
    raise ConfigError(f'compression.error_feedback must be True or False, '
                      f'got {error_feedback!r}')
  return with_compression(algorithm, compressor, error_feedback)
