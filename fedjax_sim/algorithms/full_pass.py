"""A pass over all of a client's real examples (not its training batches),
in slices, so it costs the client's size rather than the padded axis."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.evaluation.metrics import example_sums
from fedjax_sim.models.model import Model

SLICE = 64  # examples per slice of the pass


def _sums(model: Model, params: Any, batch: dict, mask: jax.Array):
  """`(loss sum, loss count)` of the masked examples of `batch`."""
  stats = example_sums(model, params, batch['x'], batch['y'], mask)
  return stats[0], stats[-1]


def full_pass_loss(model: Model, params: Any, batches: ClientBatches) -> jax.Array:
  """The task's mean loss over all of the client's real examples (0 if none)."""

  def add(acc, batch, mask):
    return tuple(a + s for a, s in zip(acc, _sums(model, params, batch, mask)))

  total, count = batches.fold_examples(add, (jnp.float32(0.), jnp.float32(0.)), SLICE)
  return total / jnp.maximum(count, 1.)


def full_pass_grad(model: Model, params: Any, batches: ClientBatches) -> Any:
  """Gradient of `full_pass_loss` with respect to `params`."""

  def add(acc, batch, mask):
    grads, count = acc
    slice_grads, slice_count = jax.grad(
        lambda p: _sums(model, p, batch, mask), has_aux=True)(params)
    return jax.tree.map(jnp.add, grads, slice_grads), count + slice_count

  zeros = jax.tree.map(jnp.zeros_like, params)
  grads, count = batches.fold_examples(add, (zeros, jnp.float32(0.)), SLICE)
  return jax.tree.map(lambda g: g / jnp.maximum(count, 1.), grads)
