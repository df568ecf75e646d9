"""LSTM next-token language models (Shakespeare characters, StackOverflow words).

`LSTMLanguageModel` embeds `[batch, length]` token ids, runs stacked LSTMs
over the sequence, optionally projects each output to `projection` features,
and returns next-token logits `[batch, length, num_classes]` at every position.
Its defaults are the Shakespeare character model of McMahan et al. 2017 and
Reddi et al. 2021 (8-dimensional embedding, two LSTM layers of 256 units); the
StackOverflow NWP model of Reddi et al. 2021 is `embed_dim=96, hidden=(670,),
projection=96` (registered as `nwp_lstm`). `unroll` time steps run per
iteration of each layer's loop (the same values). Each layer is `lstm_layer.LSTM`:
`nn.RNN(nn.LSTMCell(width))`'s parameters (under `LSTMCell_<k>`) and values,
with a faster training step.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from fedjax_sim.models.lstm_layer import LSTM


class LSTMLanguageModel(nn.Module):
  """`num_classes` is the full vocabulary size, special tokens included."""

  num_classes: int
  embed_dim: int = 8
  hidden: Sequence[int] = (256, 256)
  projection: int = 0
  unroll: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    h = nn.Embed(self.num_classes, self.embed_dim)(x)
    for k, width in enumerate(self.hidden):
      h = LSTM(width, self.unroll, name=f'LSTMCell_{k}')(h)
    if self.projection:
      h = nn.Dense(self.projection)(h)
    return nn.Dense(self.num_classes)(h)
