"""Evaluation: centralized test metrics and average client metrics."""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.models.model import Model


def _sums(model: Model, params: Any, x: jax.Array, y: jax.Array,
          mask: jax.Array) -> jax.Array:
  """`[loss sum, correct count, example count]` over masked examples."""
  logits = model.apply(params, x, None)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
  correct = jnp.argmax(logits, -1) == y
  return jnp.stack([jnp.sum(loss * mask), jnp.sum(correct * mask), jnp.sum(mask)])


@functools.partial(jax.jit, static_argnums=(0, 3))
def evaluate(model: Model, params: Any, examples: Mapping[str, jax.Array],
             batch_size: int = 1024) -> dict[str, jax.Array]:
  """Accuracy and mean loss of `params` on a centralized `{'x', 'y'}` set."""
  n = examples['y'].shape[0]
  num_batches = -(-n // batch_size)
  pad = num_batches * batch_size - n

  def batched(a):
    a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
    return a.reshape((num_batches, batch_size) + a.shape[1:])

  mask = batched(jnp.ones(n, bool))
  sums = jax.lax.map(lambda b: _sums(model, params, *b),
                     (batched(examples['x']), batched(examples['y']), mask)).sum(0)
  return {'loss': sums[0] / sums[2], 'accuracy': sums[1] / sums[2]}


@functools.partial(jax.jit, static_argnums=(0, 3))
def evaluate_clients(model: Model, params: Any, data: FederatedData,
                     chunk_size: int = 64) -> dict[str, jax.Array]:
  """Per-client accuracy/loss on each client's own data, averaged over clients
  (unweighted; clients without examples are skipped)."""
  valid_rows = jnp.arange(data.max_examples)[None, :] < data.counts[:, None]

  def client(x, y, mask):
    return _sums(model, params, x, y, mask)

  sums = jax.lax.map(lambda a: client(*a),
                     (data.examples['x'], data.examples['y'], valid_rows),
                     batch_size=chunk_size)
  has_data = sums[:, 2] > 0
  count = jnp.maximum(sums[:, 2], 1)
  num = jnp.maximum(has_data.sum(), 1)
  return {'client_loss': jnp.sum(sums[:, 0] / count * has_data) / num,
          'client_accuracy': jnp.sum(sums[:, 1] / count * has_data) / num}
