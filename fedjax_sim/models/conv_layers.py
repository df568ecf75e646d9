"""Convolution building blocks shared by the CNNs: a convolution that runs
fast inside XLA:CPU loops, and 2x2 max-pooling."""

from __future__ import annotations

import flax.linen as nn
import jax

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.tap_conv import TapConv

CONV_IMPLS = ('auto', 'taps', 'xla')


def conv(features: int, kernel: int, impl: str, name: str | None = None,
         strides: int = 1, padding: str = 'VALID', use_bias: bool = True) -> nn.Module:
  """A `kernel`x`kernel` convolution (`strides`, `padding` 'VALID' or 'SAME'):
  `lax.conv` ('xla', `nn.Conv`) or one matmul over the kernel taps ('taps';
  same parameters and results); 'auto' is taps on CPU, where `lax.conv`
  inside the local-training scan is ~14x slower."""
  if impl not in CONV_IMPLS:
    raise ConfigError(f'model.options.conv must be one of {list(CONV_IMPLS)}, got {impl!r}')
  taps = impl == 'taps' or (impl == 'auto' and jax.default_backend() == 'cpu')
  kind = TapConv if taps else nn.Conv
  return kind(features, (kernel, kernel), (strides, strides), padding=padding,
              use_bias=use_bias, name=name)


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max-pooling of NHWC `x` (odd edges dropped) as a reshape + max: the
  values of `nn.max_pool`, with a gradient that avoids XLA:CPU's slow
  select-and-scatter."""
  b, h, w, c = x.shape
  return x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))
