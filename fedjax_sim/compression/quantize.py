"""Stochastic uniform quantization to `bits` bits per coordinate (QSGD-style,
Alistarh et al. 2017), unbiased, with per-tensor min/max scaling."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fedjax_sim.compression.compressor import Compressor, per_tensor

FLOAT_BYTES = 4


def quantize_tensor(x: jax.Array, bits: int, key: jax.Array) -> jax.Array:
  """Rounds each coordinate to one of the 2^bits levels evenly spanning
  [min(x), max(x)], up with probability equal to its fractional position, so
  the result equals `x` in expectation. A constant tensor is returned as is."""
  lo, hi = jnp.min(x), jnp.max(x)
  scale = (hi - lo) / (2 ** bits - 1)
  position = (x - lo) / jnp.where(scale > 0, scale, 1.)
  lower = jnp.floor(position)
  round_up = jax.random.uniform(key, x.shape) < position - lower
  level = jnp.minimum(lower + round_up, 2 ** bits - 1)
  return jnp.where(scale > 0, lo + level * scale, x)


def quantized_bytes(size: int, bits: int) -> int:
  """`bits` per coordinate, packed into whole bytes, plus min and max (float32)."""
  return math.ceil(size * bits / 8) + 2 * FLOAT_BYTES


def stochastic_quantizer(bits: int) -> Compressor:
  return per_tensor(lambda x, key: quantize_tensor(x, bits, key),
                    lambda size: quantized_bytes(size, bits))
