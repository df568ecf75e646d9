"""LeNet-5, the CNN of Flower's simulation demo (its PyTorch `Net`)."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from fedjax_sim.models.conv_layers import conv, max_pool_2x2


class LeNet5(nn.Module):
  """conv5x5(6) - maxpool2 - conv5x5(16) - maxpool2 - dense(120) - dense(84) - dense.

  ReLU activations. Both convolutions pad by 2 ('SAME'), as LeNet-5 pads
  MNIST's 28x28 digits to 32x32, so the model also fits 8x8 digits. `conv` is
  the implementation ('auto', 'taps', 'winograd' or 'xla'; see
  `conv_layers.conv`; its 5x5 kernels are im2col matmuls on CPU).
  """

  num_classes: int
  conv: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout
    for i, features in enumerate((6, 16)):
      x = jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
      x = max_pool_2x2(nn.relu(conv(features, 5, self.conv, f'Conv_{i}')(x)))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(120)(x))
    x = nn.relu(nn.Dense(84)(x))
    return nn.Dense(self.num_classes)(x)
