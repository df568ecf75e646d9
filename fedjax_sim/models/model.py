"""`Model`: a flax module turned into pure `init` / `apply` functions."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from fedjax_sim.models.tasks import Classification, Task

Params = Any


class Model(NamedTuple):
  """Pure functions of a model and the task it is scored on.

  Attributes:
    init: `(key, sample_x) -> params`.
    apply: `(params, x, rng) -> logits`; `rng` (or None for evaluation) drives
      dropout, so training is deterministic given the key.
    num_classes: size of the output layer.
    task: the loss and accuracy (`fedjax_sim.models.tasks`); classification
      by default.
  """

  init: Callable[[jax.Array, jax.Array], Params]
  apply: Callable[[Params, jax.Array, jax.Array | None], jax.Array]
  num_classes: int
  task: Task = Classification()


def from_flax(module: nn.Module, num_classes: int,
              task: Task = Classification()) -> Model:
  """Wraps a linen module whose `__call__(x, train)` returns logits."""

  def init(key, sample_x):
    return module.init(key, sample_x, train=False)['params']

  def apply(params, x, rng=None):
    if rng is None:
      return module.apply({'params': params}, x, train=False)
    return module.apply({'params': params}, x, train=True, rngs={'dropout': rng})

  return Model(init, apply, num_classes, task)


def masked_loss(model: Model, params: Params, batch: dict[str, jax.Array],
                mask: jax.Array, rng: jax.Array | None = None) -> jax.Array:
  """The task's mean loss over the real (mask=True) examples of a batch (for
  classification the mean softmax cross-entropy, for next-token models the
  mean over their non-padding tokens)."""
  logits = model.apply(params, batch['x'], rng)
  stats = model.task.stats(logits, batch['y']) * mask[:, None]
  return jnp.sum(stats[:, 0]) / jnp.maximum(jnp.sum(stats[:, -1]), 1)
