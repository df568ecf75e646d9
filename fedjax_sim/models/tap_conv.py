"""A stride-1 VALID 2-D convolution written as one matmul over the kernel taps.

XLA:CPU runs `lax.conv` inside loop bodies (every local-training scan) about
14x slower than outside them (jax-ml/jax#12868); the same convolution as the
`kh*kw` shifted input views side by side (im2col) times the flattened kernel
runs at full speed there, and one matmul with `kh*kw*cin` inputs is ~2x
faster on CPU than `kh*kw` matmuls with `cin` inputs each. Parameters (`kernel`
HWIO, `bias`) have the shapes and initializers of `flax.linen.Conv`, so the
two are interchangeable.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def tap_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """VALID, stride-1 convolution of NHWC `x` with HWIO `kernel`, plus `bias`."""
  kh, kw, cin, cout = kernel.shape
  height, width = x.shape[-3] - kh + 1, x.shape[-2] - kw + 1
  patches = jnp.concatenate([x[..., i:i + height, j:j + width, :]
                             for i in range(kh) for j in range(kw)], -1)
  return patches @ kernel.reshape(kh * kw * cin, cout) + bias


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
