"""A 2-D convolution written as one matmul over the kernel taps (im2col).

XLA:CPU runs `lax.conv` inside loop bodies (every local-training scan) about
14x slower than outside them (jax-ml/jax#12868); the same convolution as the
`kh*kw` shifted input views side by side (im2col) times the flattened kernel
runs at full speed there, and one matmul with `kh*kw*cin` inputs is ~2x
faster on CPU than `kh*kw` matmuls with `cin` inputs each. The layer
(`conv_layers.MatmulConv`) holds the parameters of `flax.linen.Conv`.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """`lax.conv`'s 'SAME' padding (low, high) of one spatial dimension."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def im2col(x: jax.Array, kh: int, kw: int, strides: tuple[int, int] = (1, 1)) -> jax.Array:
  """The `kh*kw` (strided) VALID windows of NHWC `x` side by side on the
  channel axis, taps-major: `[..., out_h, out_w, kh*kw*cin]`."""
  sh, sw = strides
  height, width = (x.shape[-3] - kh) // sh + 1, (x.shape[-2] - kw) // sw + 1
  taps = [x[..., i:i + (height - 1) * sh + 1:sh, j:j + (width - 1) * sw + 1:sw, :]
          for i in range(kh) for j in range(kw)]
  return taps[0] if len(taps) == 1 else jnp.concatenate(taps, -1)


def tap_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None,
             strides: Sequence[int] = (1, 1), padding: str = 'VALID') -> jax.Array:
  """The convolution of NHWC `x` with HWIO `kernel` (`padding` 'VALID' or
  'SAME', as `lax.conv_general_dilated` pads), plus `bias` if given."""
  kh, kw, cin, cout = kernel.shape
  strides = tuple(strides)
  if padding == 'SAME':
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[-3:-1], (kh, kw), strides)]
    if any(p for pair in pads for p in pair):
      x = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + pads + [(0, 0)])
  elif padding != 'VALID':
    raise ValueError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
  y = im2col(x, kh, kw, strides) @ kernel.reshape(kh * kw * cin, cout)
  return y if bias is None else y + bias

