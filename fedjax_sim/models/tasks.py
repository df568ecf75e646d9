"""Tasks: how a model's outputs are scored against its labels.

A task turns `(logits, y)` of a batch into per-example statistics, one row per
example with columns `[loss sum, correct, accuracy count, (loss count)]`; the
last column is the loss's denominator (absent: it is the accuracy count).
Training minimizes `sum(loss) / sum(loss count)` over the real examples of a
batch, and evaluation reports `sum(correct) / sum(accuracy count)` as
`accuracy`, so every algorithm and evaluator works for every task.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.errors import ConfigError

PAD = 0


@dataclasses.dataclass(frozen=True)
class Classification:
  """One label per example: softmax cross-entropy and top-1 accuracy.

  Rows are `[loss, correct, 1]`: loss and accuracy both average over examples.
  """

  def stats(self, logits: jax.Array, y: jax.Array) -> jax.Array:
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    correct = (jnp.argmax(logits, -1) == y).astype(loss.dtype)
    return jnp.stack([loss, correct, jnp.ones_like(loss)], -1)


@dataclasses.dataclass(frozen=True)
class NextToken:
  """Per-position next-token prediction over `[batch, length]` token ids.

  The loss is the token-level softmax cross-entropy over the non-padding
  targets (token id 0 is padding). Accuracy counts the targets that are
  neither padding nor one of `unscored` (the OOV/BOS/EOS ids, as FedJAX and
  Reddi et al. 2021 report it); predicting an unscored id is a mistake.
  Rows are `[loss sum, correct, scored tokens, non-padding tokens]`.
  """

  unscored: tuple[int, ...] = ()

  def __post_init__(self):
    object.__setattr__(self, 'unscored', tuple(int(i) for i in self.unscored))

  def stats(self, logits: jax.Array, y: jax.Array) -> jax.Array:
    real = (y != PAD).astype(logits.dtype)
    scored = real * ~jnp.isin(y, jnp.asarray(self.unscored, y.dtype))
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y) * real
    correct = (jnp.argmax(logits, -1) == y) * scored
    return jnp.stack([loss.sum(-1), correct.sum(-1), scored.sum(-1),
                      real.sum(-1)], -1)


@dataclasses.dataclass(frozen=True)
class MultiLabel:
  """Multi-hot labels `[batch, num_labels]`: sigmoid cross-entropy (mean over
  labels, as Keras' binary cross-entropy) and recall@`top_k` (micro-averaged:
  true labels among each example's `top_k` logits over all true labels, the
  StackOverflow tag metric of Reddi et al. 2021); with fewer than `top_k`
  labels, all of them are the top.

  Rows are `[loss, true labels in top k, true labels, 1]`.
  """

  top_k: int = 5

  def __post_init__(self):
    if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
      raise ConfigError(f'model.options.task.top_k must be an integer >= 1, '
                        f'got {self.top_k!r}')

  def stats(self, logits: jax.Array, y: jax.Array) -> jax.Array:
    y = y.astype(logits.dtype)
    loss = optax.sigmoid_binary_cross_entropy(logits, y).mean(-1)
    _, top = jax.lax.top_k(logits, min(self.top_k, logits.shape[-1]))
    hits = jnp.take_along_axis(y, top, -1).sum(-1)
    return jnp.stack([loss, hits, y.sum(-1), jnp.ones_like(loss)], -1)


Task = Classification | NextToken | MultiLabel
