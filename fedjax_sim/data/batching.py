"""Local-training batches of one client, produced one step at a time.

A client's example stream is its examples reshuffled every epoch; step `s`
takes stream positions `[s * batch, (s + 1) * batch)`. Each position's
example comes from an exact per-epoch permutation evaluated at that position
(`fedjax_sim.data.permutation`), so a step costs O(batch) whatever the
client's size, and a client only pays for the steps it really runs
(`real_steps`). Everything is `jnp` with static shapes (vmap/jit friendly).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.data.permutation import epoch_seed, permute, seed_of


class BatchPlan(NamedTuple):
  """Static shape of local training.

  Attributes:
    num_steps: the most steps any client runs (the largest client's, or the
      fixed count); a client runs only its own `real_steps`.
    batch_size: examples per step.
    epochs: passes over each client's data, or None when every non-empty
      client runs exactly `num_steps` steps (cycling through reshuffled epochs).
    fixed_length: local loops run `num_steps` iterations, the steps past a
      client's own masked out, so reverse-mode differentiation goes through
      them (`make_round(differentiable=True)`); False: each client's loop has
      its own trip count.
    remat_steps: with `fixed_length`, each step is rematerialized in the
      backward pass (`jax.checkpoint`).
  """

  num_steps: int
  batch_size: int
  epochs: int | None
  fixed_length: bool = False
  remat_steps: bool = True


def plan_batches(max_examples: int, batch_size: int, epochs: int = 1,
                 steps: int = 0) -> BatchPlan:
  """Plans `steps` fixed steps, or (steps=0) `epochs` passes over the data."""
  if steps:
    return BatchPlan(steps, batch_size, None)
  return BatchPlan(max(1, math.ceil(epochs * max_examples / batch_size)),
                   batch_size, epochs)


def real_steps(count: jax.Array, plan: BatchPlan) -> jax.Array:
  """int32 number of steps a client of `count` examples trains (0 if empty)."""
  count = jnp.asarray(count, jnp.int32)
  if plan.epochs is None:
    return jnp.where(count > 0, plan.num_steps, 0).astype(jnp.int32)
  return (plan.epochs * count + plan.batch_size - 1) // plan.batch_size


@functools.partial(jax.tree_util.register_dataclass, data_fields=['seed', 'count'],
                   meta_fields=['plan'])
@dataclasses.dataclass(frozen=True)
class BatchStream:
  """One client's batches for one round (see `client_stream`); a pytree
  whose `plan` is static."""

  seed: jax.Array
  count: jax.Array
  plan: BatchPlan

  def step(self, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(indices [batch], mask [batch])` of step `s`; indices lie in
    `[0, count)` (0 where masked)."""
    batch = self.plan.batch_size
    position = s * batch + jnp.arange(batch, dtype=jnp.int32)
    n = jnp.maximum(self.count, 1)
    index = permute(epoch_seed(self.seed, position // n), position % n, n)
    if self.plan.epochs is None:
      mask = jnp.broadcast_to(self.count > 0, (batch,))
    else:
      mask = position < self.plan.epochs * self.count
    return jnp.where(mask, index, 0), mask


def client_stream(key: jax.Array, count: jax.Array, plan: BatchPlan) -> BatchStream:
  """The batch stream of a client with `count` real examples."""
  return BatchStream(seed_of(key), jnp.asarray(count, jnp.int32), plan)


def client_batches(key: jax.Array, count: jax.Array,
                   plan: BatchPlan) -> tuple[jax.Array, jax.Array]:
  """All `plan.num_steps` steps of `client_stream` as `[steps, batch]`
  indices and mask (steps past the client's `real_steps` are fully masked)."""
  stream = client_stream(key, count, plan)
  return jax.vmap(stream.step)(jnp.arange(plan.num_steps, dtype=jnp.int32))
