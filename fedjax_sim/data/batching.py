"""Local-training batches of one client as `[steps, batch]` example indices + mask.

A client's example stream is its examples reshuffled every epoch; steps take
consecutive slices of `batch_size` from that stream. Everything is `jnp` with
static shapes, so the same function runs under `vmap`, `lax.map` and `jit`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class BatchPlan(NamedTuple):
  """Static shape of local training: `num_steps` batches of `batch_size`.

  Attributes:
    num_steps: steps every client runs (shorter clients have masked steps).
    batch_size: examples per step.
    epochs: passes over each client's data, or None when every client runs
      exactly `num_steps` steps (cycling through reshuffled epochs).
  """

  num_steps: int
  batch_size: int
  epochs: int | None


def plan_batches(max_examples: int, batch_size: int, epochs: int = 1,
                 steps: int = 0) -> BatchPlan:
  """Plans `steps` fixed steps, or (steps=0) `epochs` passes over the data."""
  if steps:
    return BatchPlan(steps, batch_size, None)
  return BatchPlan(max(1, math.ceil(epochs * max_examples / batch_size)),
                   batch_size, epochs)


def client_batches(key: jax.Array, count: jax.Array, max_examples: int,
                   plan: BatchPlan) -> tuple[jax.Array, jax.Array]:
  """Example indices `[steps, batch]` and validity mask for one client.

  Args:
    key: this client's PRNG key for the round.
    count: number of real examples of the client (traced scalar).
    max_examples: padded example axis length (static).
    plan: the static batch plan.

  Returns:
    `(indices, mask)`; `indices` lie in `[0, count)` (0 where masked) and every
    epoch visits each real example exactly once.
  """
  length = plan.num_steps * plan.batch_size
  n = jnp.maximum(count, 1)
  base_key, order_key = jax.random.split(key)
  # A random permutation of the real examples (padding sorted to the end).
  slot = jnp.arange(max_examples)
  base = jnp.argsort(jnp.where(slot < count,
                               jax.random.uniform(base_key, (max_examples,)), 2.))
  position = jnp.arange(length)

  def reshuffled_epochs():
    # Within each epoch-sized block of the stream, a fresh random order.
    noise = jax.random.uniform(order_key, (length,))
    _, _, shuffled = jax.lax.sort((position // n, noise, position), num_keys=2)
    return base[shuffled % n]

  if length <= max_examples:
    # A stream inside one epoch is the start of `base`: the second sort runs
    # only for clients smaller than the stream (a real branch one client at a
    # time; under `vmap` both sides run).
    indices = jax.lax.cond(count >= length, lambda: base[:length], reshuffled_epochs)
  else:
    indices = reshuffled_epochs()
  if plan.epochs is None:
    mask = jnp.broadcast_to(count > 0, (length,))
  else:
    mask = position < plan.epochs * count
  indices = jnp.where(mask, indices, 0).astype(jnp.int32)
  shape = (plan.num_steps, plan.batch_size)
  return indices.reshape(shape), mask.reshape(shape)
