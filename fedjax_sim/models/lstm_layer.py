"""A fused LSTM layer: `nn.RNN(nn.LSTMCell(width))`'s parameters and values, faster.

`LSTM` keeps `nn.RNN(nn.LSTMCell(width))`'s parameter tree (`cell/{ii,if,ig,io}`
kernels, `cell/{hi,hf,hg,ho}` kernels and biases), initialisation, zero initial
carry and outputs, but computes the input projection of all time steps as one
matmul, runs only `h @ W_h` inside the time loop, and has a custom JVP (so
forward and reverse mode both work) whose transposed loop emits each step's
gate cotangents instead of accumulating the loop-invariant weight gradients
in its carry; the weight and input gradients are then one matmul each after
the loop.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

_GATES = ('i', 'f', 'g', 'o')


def _step(wh: jax.Array, b: jax.Array, carry: tuple[jax.Array, jax.Array], xp: jax.Array):
  """One LSTM step from the input projection `xp` [B, 4H]; returns gates too."""
  c, h = carry
  i, f, g, o = jnp.split(xp + (h @ wh + b), 4, axis=-1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
  new_c = f * c + i * g
  new_h = o * jnp.tanh(new_c)
  return (new_c, new_h), (i, f, g, o, new_c)


def _zeros(x: jax.Array, hidden: int) -> tuple[jax.Array, jax.Array]:
  z = jnp.zeros(x.shape[1:-1] + (hidden,), x.dtype)
  return z, z


def _forward(wx, wh, b, x, unroll):
  """Time-major `x` [T, B, D] -> (hidden states [T, B, H], per-step residuals)."""
  def step(carry, xp_t):
    carry, residuals = _step(wh, b, carry, xp_t)
    return carry, (carry[1], residuals)

  xp = jnp.einsum('tbd,dk->tbk', x, wx)
  _, (ys, res) = jax.lax.scan(step, _zeros(x, wh.shape[0]), xp, unroll=unroll)
  return ys, res


def _make_lstm(unroll: int) -> Callable[..., jax.Array]:
  """The time-major LSTM `(wx, wh, b, x) -> ys` with a custom JVP.

  The JVP adds the tangents that do not go through the recurrence (`dx wx`,
  `x dwx`, `h_prev dwh`, `db`) for all steps with one matmul each, so its loop
  carries only `(dh, dc)` and uses `wh` as a constant: transposed for the
  gradient, the loop emits each step's gate cotangents instead of
  accumulating the weights' gradients in its carry.
  """

  @jax.custom_jvp
  def lstm(wx, wh, b, x):
    return _forward(wx, wh, b, x, unroll)[0]

  @lstm.defjvp
  def lstm_jvp(primals, tangents):
    wx, wh, b, x = primals
    dwx, dwh, db, dx = tangents
    ys, (i, f, g, o, c) = _forward(wx, wh, b, x, unroll)
    zeros = jnp.zeros_like(ys[:1])
    c_prev = jnp.concatenate([zeros, c[:-1]])
    h_prev = jnp.concatenate([zeros, ys[:-1]])
    outside = (jnp.einsum('tbd,dk->tbk', x, dwx) + jnp.einsum('tbd,dk->tbk', dx, wx)
               + jnp.einsum('tbh,hk->tbk', h_prev, dwh) + db)

    # `dh @ wh` written against a materialised `wh.T` [4H, H]: transposed for
    # the gradient it becomes `dz @ wh.T` in the [B, 4H] x [4H, H] layout,
    # which XLA:CPU ran in 30 us against 80 us for the [B, 4H] x [H, 4H]^T
    # one it would otherwise get (the barrier keeps XLA from folding it back).
    wht = jax.lax.optimization_barrier(wh.T)

    def tangent(carry, t):
      dh, dc = carry
      a, i, f, g, o, c, cp = t
      dzi, dzf, dzg, dzo = jnp.split(a + jnp.einsum('bh,kh->bk', dh, wht), 4, axis=-1)
      dc = (f * (1 - f) * dzf) * cp + f * dc + (i * (1 - i) * dzi) * g + i * ((1 - g * g) * dzg)
      tc = jnp.tanh(c)
      dh = (o * (1 - o) * dzo) * tc + o * (1 - tc * tc) * dc
      return (dh, dc), dh

    init = (jnp.zeros_like(ys[0]), jnp.zeros_like(ys[0]))
    _, dys = jax.lax.scan(tangent, init, (outside, i, f, g, o, c, c_prev), unroll=unroll)
    return ys, dys

  return lstm


class _Gate(nn.Module):
  """The parameters of one `nn.Dense` of `nn.LSTMCell` (created as it does)."""

  features: int
  use_bias: bool
  kernel_init: Any
  bias_init: Any

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array | None]:
    kernel = self.param('kernel', self.kernel_init, (in_features, self.features), jnp.float32)
    bias = self.param('bias', self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
    return kernel, bias


class LSTM(nn.Module):
  """`nn.RNN(nn.LSTMCell(features), unroll=unroll)` on `[..., time, in]` inputs.

  Its parameters are the cell's (`{ii,if,ig,io}/kernel`, `{hi,hf,hg,ho}/{kernel,bias}`)
  directly under this module: `nn.RNN(nn.LSTMCell(w))` created inside a compact
  method stores them under `LSTMCell_<k>`, so name this module that way.
  """

  features: int
  unroll: int = 1

  def _params(self, in_features: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`nn.LSTMCell`'s parameters, concatenated gate-wise (i, f, g, o)."""
    ref = nn.LSTMCell(self.features, parent=None)
    wx, wh, b = [], [], []
    for gate in _GATES:
      k, _ = _Gate(self.features, False, ref.kernel_init, None, name='i' + gate)(in_features)
      kh, bh = _Gate(self.features, True, ref.recurrent_kernel_init, ref.bias_init,
                     name='h' + gate)(self.features)
      wx.append(k), wh.append(kh), b.append(bh)
    return jnp.concatenate(wx, 1), jnp.concatenate(wh, 1), jnp.concatenate(b)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    wx, wh, b = self._params(x.shape[-1])
    batch, (length, width) = x.shape[:-2], x.shape[-2:]
    xt = jnp.moveaxis(x.reshape((-1, length, width)), 1, 0)
    ys = _make_lstm(self.unroll)(wx, wh, b, xt.astype(wx.dtype))
    return jnp.moveaxis(ys, 0, 1).reshape(batch + (length, self.features))
