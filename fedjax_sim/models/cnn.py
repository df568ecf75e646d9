"""The standard EMNIST CNN of FedJAX / Reddi et al. 2021: 2 conv + 2 dense."""

import flax.linen as nn
import jax


class EmnistCNN(nn.Module):
  """conv3x3(32) - conv3x3(64) - maxpool2 - dropout - dense(128) - dropout - dense."""

  num_classes: int
  dropout_rate: float = 0.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = nn.relu(nn.Conv(32, (3, 3), padding='VALID')(x))
    x = nn.relu(nn.Conv(64, (3, 3), padding='VALID')(x))
    x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    x = nn.Dropout(2 * self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)
