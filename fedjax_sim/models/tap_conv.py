"""A stride-1 VALID 2-D convolution written as one matmul per kernel tap.

XLA:CPU runs `lax.conv` inside loop bodies (every local-training scan) about
14x slower than outside them (jax-ml/jax#12868); the same convolution as a sum
of `kh*kw` shifted matmuls runs at full speed there. Parameters (`kernel`
HWIO, `bias`) have the shapes and initializers of `flax.linen.Conv`, so the
two are interchangeable.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def tap_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """VALID, stride-1 convolution of NHWC `x` with HWIO `kernel`, plus `bias`."""
  kh, kw = kernel.shape[:2]
  height, width = x.shape[-3] - kh + 1, x.shape[-2] - kw + 1
  out = sum(jnp.einsum('...hwi,io->...hwo', x[..., i:i + height, j:j + width, :],
                       kernel[i, j])
            for i in range(kh) for j in range(kw))
  return out + bias


class TapConv(nn.Module):
  """`nn.Conv(features, kernel_size, padding='VALID')` via `tap_conv`."""

  features: int
  kernel_size: tuple[int, int]

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return tap_conv(x, kernel, bias)
