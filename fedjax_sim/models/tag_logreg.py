"""StackOverflow tag prediction (Reddi et al. 2021): logistic regression from a
bag-of-words vector `[batch, vocab]` to one logit per tag `[batch, num_tags]`,
trained with per-tag sigmoid cross-entropy (the `MultiLabel` task)."""

from __future__ import annotations

import flax.linen as nn
import jax


class TagLogisticRegression(nn.Module):
  """`num_classes` is the number of tags."""

  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))
