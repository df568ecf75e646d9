"""Multinomial logistic regression."""

import flax.linen as nn
import jax


class LogisticRegression(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))
