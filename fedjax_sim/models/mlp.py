"""Multi-layer perceptron with ReLU hidden layers."""

from typing import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
  num_classes: int
  hidden: Sequence[int] = (200,)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.num_classes)(x)
