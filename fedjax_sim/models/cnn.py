"""The standard EMNIST CNN of FedJAX / Reddi et al. 2021: 2 conv + 2 dense."""

import flax.linen as nn
import jax

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.tap_conv import TapConv

CONV_IMPLS = ('auto', 'taps', 'xla')


class EmnistCNN(nn.Module):
  """conv3x3(32) - conv3x3(64) - maxpool2 - dropout - dense(128) - dropout - dense.

  `conv`: 'xla' (`lax.conv`), 'taps' (one matmul per kernel tap, see
  `tap_conv`; same parameters and results) or 'auto' (taps on CPU, where
  `lax.conv` inside the local-training scan is ~14x slower).
  """

  num_classes: int
  dropout_rate: float = 0.
  conv: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.conv not in CONV_IMPLS:
      raise ConfigError(f'model.options.conv must be one of {list(CONV_IMPLS)}, '
                        f'got {self.conv!r}')
    taps = self.conv == 'taps' or (self.conv == 'auto' and jax.default_backend() == 'cpu')
    for i, features in enumerate((32, 64)):
      name = f'Conv_{i}'  # the same parameter tree for both implementations
      layer = (TapConv(features, (3, 3), name=name) if taps
               else nn.Conv(features, (3, 3), padding='VALID', name=name))
      x = nn.relu(layer(x))
    # 2x2 max-pooling as a reshape + max: same values as `nn.max_pool`, and its
    # gradient avoids XLA:CPU's slow select-and-scatter.
    b, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    x = nn.Dropout(2 * self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)
