"""The standard EMNIST CNN of FedJAX / Reddi et al. 2021: 2 conv + 2 dense."""

import flax.linen as nn
import jax

from fedjax_sim.models.conv_layers import conv as conv_layer
from fedjax_sim.models.conv_layers import max_pool_2x2


class EmnistCNN(nn.Module):
  """conv3x3(32) - conv3x3(64) - maxpool2 - dropout - dense(128) - dropout - dense.

  `conv`: 'xla' (`lax.conv`), 'taps' (one im2col matmul, see `tap_conv`),
  'winograd' (conv2 by Winograd's F(2x2, 3x3), see `winograd`) or 'auto'
  (on CPU, where `lax.conv` inside the local-training scan is ~14x slower:
  conv1, with one input channel, as taps, conv2 by Winograd; see
  `conv_layers.conv`). The same parameters and results, to rounding.
  """

  num_classes: int
  dropout_rate: float = 0.
  conv: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i, features in enumerate((32, 64)):
      # The same parameter tree (`Conv_i`) for both implementations.
      x = nn.relu(conv_layer(features, 3, self.conv, f'Conv_{i}')(x))
    x = max_pool_2x2(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    x = nn.Dropout(2 * self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)
