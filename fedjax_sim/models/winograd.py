"""A 3x3 stride-1 convolution by Winograd's minimal filtering, F(2x2, 3x3).

Each 2x2 block of outputs comes from a 4x4 tile of inputs (tiles overlap by
two): the tiles and the kernel are taken to a 16-point transform domain
(`B^T d B`, `G g G^T`), multiplied point by point there, which over the
channels is 16 batched matmuls `[tiles, cin] x [cin, cout]`, and brought
back (`A^T m A`) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016). That is 16 multiplies per 4 outputs per channel pair, not
36, and the transformed tiles (16 per 4 outputs) are a smaller copy than
im2col's 9 taps per output. On XLA:CPU, inside the local-training loop,
the EMNIST CNN's step with its second convolution this way took 25.9 ms
against 37.3 as im2col, on one core (`benchmarks/RESULTS.md`). The
transforms' coefficients are 0, +-1 and +-1/2, so float32 results differ
from `lax.conv`'s by rounding only (about 1e-6 relative). Everything is
linear algebra in `jnp`: gradients, forward mode and `vmap` follow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.models.tap_conv import same_padding

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def supports(kernel_size: tuple[int, int], strides: tuple[int, int]) -> bool:
  """Whether `winograd_conv` computes this convolution: 3x3, stride 1."""
  return tuple(kernel_size) == (3, 3) and tuple(strides) == (1, 1)


def winograd_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None,
                  padding: str = 'VALID') -> jax.Array:
  """The stride-1 convolution of NHWC `x` (any leading axes) with a 3x3 HWIO
  `kernel`, `padding` 'VALID' or 'SAME', plus `bias` if given."""
  if kernel.shape[:2] != (3, 3):
    raise ValueError(f'winograd_conv: a 3x3 kernel, got {kernel.shape[:2]}')
  if padding == 'SAME':
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [same_padding(n, 3, 1) for n in x.shape[-3:-1]]
                + [(0, 0)])
  elif padding != 'VALID':
    raise ValueError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
  lead, (height, width, cin) = x.shape[:-3], x.shape[-3:]
  out_h, out_w = height - 2, width - 2
  tiles_h, tiles_w = -(-out_h // 2), -(-out_w // 2)
  # Odd outputs: one more zero row or column makes whole 2x2 blocks; cropped below.
  x = x.reshape((-1, height, width, cin))
  n = x.shape[0]
  x = jnp.pad(x, [(0, 0), (0, out_h % 2), (0, out_w % 2), (0, 0)])
  # The input as 2x2 blocks: tile t spans blocks t and t + 1 in each direction,
  # so its 4x4 inputs are 4 shifted views of the blocks, split into their 2x2
  # positions (`split`, whose transpose is a concatenation, not 16 padded adds).
  blocks = x.reshape(n, tiles_h + 1, 2, tiles_w + 1, 2, cin)
  d = [[None] * 4 for _ in range(4)]
  for i in range(2):
    for j in range(2):
      view = blocks[:, i:i + tiles_h, :, j:j + tiles_w]
      for p, rows in enumerate(jnp.split(view, 2, axis=2)):
        for q, part in enumerate(jnp.split(rows, 2, axis=4)):
          d[2 * i + p][2 * j + q] = part.reshape(n, tiles_h, tiles_w, cin)
  v = _transform(B_T, d)  # [4][4] of [n, tiles_h, tiles_w, cin]
  v = jnp.stack([t for row in v for t in row]).reshape(16, -1, cin)
  u = jnp.einsum('ai,ijco,bj->abco', G, kernel, G).reshape(16, cin, kernel.shape[-1])
  m = jnp.split(jnp.einsum('fnc,fco->fno', v, u), 16)
  m = [[m[4 * a + b].reshape(n, tiles_h, tiles_w, -1) for b in range(4)] for a in range(4)]
  y = _transform(A_T, m)  # [2][2]
  y = jnp.stack([jnp.stack(row, 3) for row in y], 2)  # [n, tiles_h, 2, tiles_w, 2, cout]
  y = jax.lax.optimization_barrier(y)  # materialized: no consumer recomputes the transform
  y = y.reshape(n, 2 * tiles_h, 2 * tiles_w, -1)[:, :out_h, :out_w]
  y = y.reshape(lead + (out_h, out_w, -1))
  return y if bias is None else y + bias


def _transform(matrix: np.ndarray, grid: list[list[jax.Array]]) -> list[list[jax.Array]]:
  """`matrix @ grid @ matrix^T` of a grid of arrays, term by term (the
  coefficients are constants; zeros are skipped)."""
  def combine(row: np.ndarray, parts: list[jax.Array]) -> jax.Array:
    terms = [p if c == 1 else -p if c == -1 else float(c) * p
             for c, p in zip(row, parts) if c != 0]
    return sum(terms[1:], terms[0])
  columns = [[combine(r, [grid[i][j] for i in range(len(grid))]) for r in matrix]
             for j in range(len(grid[0]))]  # columns[j][a] = (matrix @ grid)[a][j]
  return [[combine(r, columns_a) for r in matrix]
          for columns_a in ([columns[j][a] for j in range(len(columns))]
                            for a in range(len(matrix)))]
