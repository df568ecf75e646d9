"""Typed compression settings, `config.compression`, and what they build."""

from __future__ import annotations

from typing import NamedTuple

from fedjax_sim.compression.compressor import Compressor
from fedjax_sim.compression.error_feedback import with_compression
from fedjax_sim.compression.quantize import stochastic_quantizer
from fedjax_sim.compression.topk import top_k
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.rules import check, is_int, is_number

NAMES = ('none', 'quantize', 'topk')
MAX_BITS = 16


class Settings(NamedTuple):
  """`name` none | quantize | topk; `bits` of quantize; `fraction` of the
  coordinates topk keeps; `error_feedback`: clients keep what compression
  dropped and add it to their next update."""

  name: str = 'none'
  bits: int = 8
  fraction: float = 0.1
  error_feedback: bool = True


def compressor(settings: Settings) -> Compressor | None:
  """The compressor `settings` name; None for 'none'."""
  check('compression', settings, [('name', lambda v: v in NAMES, f'one of {list(NAMES)}')])
  if settings.name == 'quantize':
    check('compression', settings, [
        ('bits', lambda v: is_int(v) and 1 <= v <= MAX_BITS, f'an integer in [1, {MAX_BITS}]')])
    return stochastic_quantizer(settings.bits)
  if settings.name == 'topk':
    check('compression', settings, [
        ('fraction', lambda v: is_number(v) and 0 < v <= 1, 'in (0, 1]')])
    return top_k(settings.fraction)
  return None


def compress(algorithm: FederatedAlgorithm, settings: Settings) -> FederatedAlgorithm:
  """`algorithm` with the compression `settings` ask for."""
  chosen = compressor(settings)
  if chosen is None:
    return algorithm
  check('compression', settings, [
      ('error_feedback', lambda v: isinstance(v, bool), 'True or False')])
  return with_compression(algorithm, chosen, settings.error_feedback)
