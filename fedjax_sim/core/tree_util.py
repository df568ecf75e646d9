"""Small pytree helpers shared by the engine."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax


def zeros_of_output(fn: Callable[..., Any], *args) -> Any:
  """Zeros shaped like the output of `fn(*args)` (traced abstractly, not run)."""
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *args))


def safe_norm(tree: Any) -> jax.Array:
  """The global L2 norm of `tree` (as `optax.tree.norm`), whose gradient at
  an all-zero tree is zero instead of NaN (an empty or padded client's
  update is all zeros)."""
  squared = optax.tree.norm(tree, squared=True)
  zero = squared == 0  # NaN and inf stay NaN and inf: non-finite updates are flagged
  return jnp.where(zero, 0., jnp.sqrt(jnp.where(zero, 1., squared)))


def all_finite(tree: Any) -> jax.Array:
  """bool scalar: every floating-point value in `tree` is finite."""
  leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
