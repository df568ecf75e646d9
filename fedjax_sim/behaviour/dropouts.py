"""Mid-round dropout: each sampled client independently drops out of the
round with probability `dropout.probability`, after a uniformly random part
of its local steps (0 up to all but one); its work is lost, it never reports,
and its persistent state is unchanged.

Drawn on the device from the round's sampling key, a function of (seed,
round) only, so runs are deterministic and resume exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.core.rules import is_traced
from fedjax_sim.data.batching import BatchPlan, real_steps
from fedjax_sim.behaviour.stragglers import Draw


class Settings(NamedTuple):
  """The `dropout` section: each sampled client's `probability` of dropping
  out (checked by `fedjax_sim.config.checks`)."""

  probability: float = 0.


def draw_fn(probability: float, plan: BatchPlan) -> Draw | None:
  """The jitted per-round draw, or None when nobody drops out (a traced
  `probability`, a sweep's, always draws)."""
  if not is_traced(probability) and not probability:
    return None

  @jax.jit
  def draw(sample_key: jax.Array, ids: jax.Array, counts: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
    drop_key, when_key = jax.random.split(jax.random.fold_in(sample_key, 2))
    drops = jax.random.uniform(drop_key, ids.shape) < probability
    full = real_steps(jnp.asarray(counts)[ids], plan)
    worked = jnp.floor(jax.random.uniform(when_key, full.shape) * full).astype(jnp.int32)
    return jnp.where(drops, worked, full), ~drops

  return draw
