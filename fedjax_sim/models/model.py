"""`Model`: a flax module turned into pure `init` / `apply` functions."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Params = Any


class Model(NamedTuple):
  """Pure functions of a classifier.

  Attributes:
    init: `(key, sample_x) -> params`.
    apply: `(params, x, rng) -> logits`; `rng` (or None for evaluation) drives
      dropout, so training is deterministic given the key.
    num_classes: size of the output layer.
  """

  init: Callable[[jax.Array, jax.Array], Params]
  apply: Callable[[Params, jax.Array, jax.Array | None], jax.Array]
  num_classes: int


def from_flax(module: nn.Module, num_classes: int) -> Model:
  """Wraps a linen module whose `__call__(x, train)` returns logits."""

  def init(key, sample_x):
    return module.init(key, sample_x, train=False)['params']

  def apply(params, x, rng=None):
    if rng is None:
      return module.apply({'params': params}, x, train=False)
    return module.apply({'params': params}, x, train=True, rngs={'dropout': rng})

  return Model(init, apply, num_classes)


def masked_loss(model: Model, params: Params, batch: dict[str, jax.Array],
                mask: jax.Array, rng: jax.Array | None = None) -> jax.Array:
  """Mean softmax cross-entropy over the real (mask=True) examples of a batch."""
  logits = model.apply(params, batch['x'], rng)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch['y'])
  return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1)
