"""Small pytree helpers shared by the engine."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def zeros_of_output(fn: Callable[..., Any], *args) -> Any:
  """Zeros shaped like the output of `fn(*args)` (traced abstractly, not run)."""
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *args))
