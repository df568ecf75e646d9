"""Small pytree helpers shared by the engine."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def zeros_of_output(fn: Callable[..., Any], *args) -> Any:
  """Zeros shaped like the output of `fn(*args)` (traced abstractly, not run)."""
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *args))


def all_finite(tree: Any) -> jax.Array:
  """bool scalar: every floating-point value in `tree` is finite."""
  leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
