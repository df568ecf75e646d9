"""A small causal (decoder-only) Transformer next-token model.

Token and learned position embeddings, `num_layers` pre-LayerNorm blocks of
causal multi-head self-attention and a ReLU MLP, a final LayerNorm and a dense
output layer: next-token logits `[batch, length, num_classes]` per position.
Padding (token 0) sits at the end of a sequence, so the causal mask already
keeps real positions from attending to it.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from fedjax_sim.errors import ConfigError


class Block(nn.Module):
  """Pre-LayerNorm causal self-attention and MLP, each with a residual."""

  num_heads: int
  mlp_dim: int
  dropout_rate: float

  @nn.compact
  def __call__(self, h: jax.Array, train: bool) -> jax.Array:
    drop = nn.Dropout(self.dropout_rate, deterministic=not train)
    mask = nn.make_causal_mask(jnp.ones(h.shape[:2]))
    a = nn.MultiHeadDotProductAttention(self.num_heads)(nn.LayerNorm()(h), mask=mask)
    h = h + drop(a)
    m = nn.Dense(h.shape[-1])(nn.relu(nn.Dense(self.mlp_dim)(nn.LayerNorm()(h))))
    return h + drop(m)


class Transformer(nn.Module):
  """`num_classes` is the full vocabulary size; sequences are at most `max_len`."""

  num_classes: int
  num_layers: int = 2
  num_heads: int = 4
  dim: int = 128
  mlp_dim: int = 512
  max_len: int = 128
  dropout_rate: float = 0.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if x.shape[1] > self.max_len:
      raise ConfigError(f'model.options.max_len must be >= the sequence length '
                        f'{x.shape[1]}, got {self.max_len}')
    positions = nn.Embed(self.max_len, self.dim)(jnp.arange(x.shape[1]))
    h = nn.Embed(self.num_classes, self.dim)(x) + positions
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    for _ in range(self.num_layers):
      h = Block(self.num_heads, self.mlp_dim, self.dropout_rate)(h, train)
    return nn.Dense(self.num_classes)(nn.LayerNorm()(h))
