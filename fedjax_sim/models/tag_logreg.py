"""StackOverflow tag prediction (Reddi et al. 2021): logistic regression from a
bag of words to one logit per tag `[batch, num_tags]`, trained with per-tag
sigmoid cross-entropy (the `MultiLabel` task).

The bag is sparse, as `benchmark_features.decode_stackoverflow_tags` stores it:
`x` float32 `[batch, words, 2]`, per word its id (`x[..., 0]`) and weight
(`x[..., 1]`; padding has weight 0). The logits are a dense layer's on the
`[batch, vocab_size]` bag, with its parameters (`kernel` `[vocab_size,
num_tags]`, `bias` `[num_tags]`): `sum_k w_k kernel[id_k] + bias`. Few words
(`words * num_tags <= vocab_size`) gather their kernel rows, a `[batch, words,
num_tags]` array; otherwise the bag is scattered into its dense `[batch,
vocab_size]` vector and multiplied, the dense layer's cost: the smaller
intermediate either way (gathering is also the faster on CPU there).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class TagLogisticRegression(nn.Module):
  """`num_classes` is the number of tags; every word id must be below
  `vocab_size` (at least the data's `bow_vocab_size`, which `train` checks)."""

  num_classes: int
  vocab_size: int = 10000

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (self.vocab_size, self.num_classes))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.num_classes,))
    ids, weights = x[..., 0].astype(jnp.int32), x[..., 1]
    if x.shape[1] * self.num_classes <= self.vocab_size:
      return jnp.einsum('bk,bkc->bc', weights, jnp.take(kernel, ids, axis=0)) + bias
    rows = jnp.arange(x.shape[0])[:, None]
    bag = jnp.zeros((x.shape[0], self.vocab_size), x.dtype).at[rows, ids].add(weights)
    return bag @ kernel + bias
