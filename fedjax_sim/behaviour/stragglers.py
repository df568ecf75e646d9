"""Stragglers: each round a fraction of the sampled clients cannot finish
their local work (FedProx, Li et al. 2020, section 5.2).

`stragglers.fraction` of the sampled clients (rounded) straggle. A straggler
manages a uniformly random number of its local steps, between 1 and all of
them (FedProx draws a straggler's epochs uniformly in [1, E]). With
`stragglers.mode`:
  'partial': the straggler's update is that of the steps it managed
    (FedProx keeps partial work);
  'drop': stragglers are left out of the round (FedAvg drops them): no work,
    weight 0, persistent state unchanged.
Who straggles and how far it gets is drawn on the device from the round's
sampling key, a function of (seed, round) only, so a resumed run is
bit-identical and the host never waits for it.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from fedjax_sim.core.rules import is_traced
from fedjax_sim.data.batching import BatchPlan, real_steps

# `(sample_key, sampled ids, every client's example count) -> (step budgets,
# reported)`, the round's inputs (`fedjax_sim.core.round.build_round`).
Draw = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


class Settings(NamedTuple):
  """The `stragglers` config section (checked by `fedjax_sim.config.checks`)."""

  fraction: float = 0.
  mode: str = 'partial'


def draw_fn(settings: Settings, plan: BatchPlan, clients_per_round: int) -> Draw | None:
  """The jitted per-round draw of `settings`, or None without stragglers (a
  traced `fraction`, a sweep's, always draws)."""
  if not is_traced(settings.fraction) and not round(settings.fraction * clients_per_round):
    return None

  @jax.jit
  def draw(sample_key: jax.Array, ids: jax.Array, counts: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
    who_key, how_far_key = jax.random.split(jax.random.fold_in(sample_key, 1))
    # The first `num` of a random order straggle (of the selected, over-selection too).
    num = (jnp.round(settings.fraction * ids.shape[0]) if is_traced(settings.fraction)
           else round(settings.fraction * ids.shape[0]))
    order = jax.random.permutation(who_key, ids.shape[0])
    straggles = jnp.zeros(ids.shape[0], bool).at[order].set(jnp.arange(ids.shape[0]) < num)
    full = real_steps(jnp.asarray(counts)[ids], plan)
    managed = jnp.minimum(
        1 + jnp.floor(jax.random.uniform(how_far_key, full.shape) * full).astype(jnp.int32),
        full)
    if settings.mode == 'partial':
      return jnp.where(straggles, managed, full), jnp.ones_like(straggles)
    return jnp.where(straggles, 0, full), ~straggles

  return draw


def client_behaviour(draws: Sequence[Draw], sample_key: jax.Array,
                     ids: jax.Array, counts: jax.Array) -> dict[str, jax.Array]:
  """The round's `step_budgets` and `reported` from every behaviour draw (the
  smallest budget; reported if no draw says otherwise), or {} without draws."""
  if not draws:
    return {}
  budgets, reported = zip(*(draw(sample_key, ids, counts) for draw in draws))
  return {'step_budgets': functools.reduce(jnp.minimum, budgets),
          'reported': functools.reduce(jnp.logical_and, reported)}
