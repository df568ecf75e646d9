"""Convolution building blocks shared by the CNNs: a convolution that runs
fast inside XLA:CPU loops, and 2x2 max-pooling."""

from __future__ import annotations

import flax.linen as nn
import jax

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.tap_conv import tap_conv
from fedjax_sim.models.winograd import supports as winograd_supports
from fedjax_sim.models.winograd import winograd_conv

CONV_IMPLS = ('auto', 'taps', 'winograd', 'xla')
# 'auto' on CPU runs a 3x3 stride-1 convolution by Winograd when it has at
# least this many input channels and output positions per image (a
# width-32 resnet18_gn step on 32x32 images: 135 ms, against 182 ms with
# taps everywhere and 187 ms with Winograd everywhere; the EMNIST CNN's
# 1-channel first convolution is slower by Winograd: benchmarks/RESULTS.md).
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_OUTPUTS = 16 * 16


def conv(features: int, kernel: int, impl: str, name: str | None = None,
         strides: int = 1, padding: str = 'VALID', use_bias: bool = True) -> nn.Module:
  """A `kernel`x`kernel` convolution (`strides`, `padding` 'VALID' or 'SAME'):
  `lax.conv` ('xla', `nn.Conv`), one matmul over the kernel taps ('taps') or
  Winograd's F(2x2, 3x3) where it applies, 3x3 stride 1, and taps elsewhere
  ('winograd'); the same parameters and results (to rounding). 'auto' is
  `lax.conv` off CPU; on CPU, where `lax.conv` inside the local-training loop
  is ~14x slower, Winograd for convolutions with enough channels and outputs
  (`uses_winograd`), taps for the others."""
  if impl not in CONV_IMPLS:
    raise ConfigError(f'model.options.conv must be one of {list(CONV_IMPLS)}, got {impl!r}')
  if impl == 'xla' or (impl == 'auto' and jax.default_backend() != 'cpu'):
    return nn.Conv(features, (kernel, kernel), (strides, strides), padding=padding,
                   use_bias=use_bias, name=name)
  return MatmulConv(features, (kernel, kernel), (strides, strides), padding, use_bias,
                    impl, name=name)


class MatmulConv(nn.Module):
  """`nn.Conv(features, kernel_size, strides, padding, use_bias)` (the same
  parameters: names, shapes, initializers) computed by matmuls:
  `algorithm` 'taps' (`tap_conv`), 'winograd' (`winograd_conv` where it
  applies) or 'auto' (see `conv`)."""

  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: str = 'VALID'
  use_bias: bool = True
  algorithm: str = 'taps'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = (self.param('bias', nn.initializers.zeros_init(), (self.features,))
            if self.use_bias else None)
    if uses_winograd(self.algorithm, self.kernel_size, self.strides, self.padding,
                     x.shape[-3:-1], x.shape[-1]):
      return winograd_conv(x, kernel, bias, self.padding)
    return tap_conv(x, kernel, bias, self.strides, self.padding)


def uses_winograd(algorithm: str, kernel_size: tuple[int, int], strides: tuple[int, int],
                  padding: str, size: tuple[int, int], channels: int) -> bool:
  """Whether `MatmulConv` with `algorithm` runs its convolution (of `size`
  inputs with `channels` channels) by Winograd: 3x3 stride 1 only; under
  'auto', with at least `WINOGRAD_MIN_CHANNELS` channels and
  `WINOGRAD_MIN_OUTPUTS` outputs."""
  if algorithm == 'taps' or not winograd_supports(kernel_size, strides):
    return False
  out = [n if padding == 'SAME' else n - k + 1 for n, k in zip(size, kernel_size)]
  return algorithm == 'winograd' or (channels >= WINOGRAD_MIN_CHANNELS
                                     and out[0] * out[1] >= WINOGRAD_MIN_OUTPUTS)

def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max-pooling of NHWC `x` (odd edges dropped) as a reshape + max: the
  values of `nn.max_pool`, with a gradient that avoids XLA:CPU's slow
  select-and-scatter."""
  b, h, w, c = x.shape
  return x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))
