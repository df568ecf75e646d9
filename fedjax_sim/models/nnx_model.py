"""`from_nnx`: a flax NNX model as a `Model` (pure `init` / `apply`).

NNX modules are objects holding their variables; the engine needs pure
functions of a parameter pytree. `from_nnx` builds the module, takes its
`nnx.Param` variables out as a plain nested dict (string keys, as linen's
params), and puts them back (`nnx.update`) on every `apply`. Only `nnx.Param`
variables are parameters: models with other mutable state (BatchNorm's
running statistics) are not supported, as with `from_flax`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
from flax import nnx

from fedjax_sim.models.model import Model
from fedjax_sim.models.tasks import Classification, Task

Build = Callable[[jax.Array, nnx.Rngs], nnx.Module]


def _plain(tree: Any) -> Any:
  """A pure dict with string keys (NNX lists key their items by int)."""
  if isinstance(tree, dict):
    return {str(k): _plain(v) for k, v in tree.items()}
  return tree


def from_nnx(build: Build, num_classes: int, task: Task = Classification()) -> Model:
  """Wraps the NNX model `build(sample_x, rngs)` makes, whose `__call__(x)`
  returns logits.

  `sample_x` (a batch of inputs) is there for the layers' sizes; `rngs`
  holds the streams `params` and `dropout`. `apply(params, x, rng)` runs the
  model in `train()` mode with its dropout stream reseeded from `rng`, or in
  `eval()` mode when `rng` is None. Inside a jitted program the module
  `apply` builds is only traced: its initializers are dead code.
  """

  def module(x: jax.Array, params_key: jax.Array, dropout_key: jax.Array) -> nnx.Module:
    return build(x, nnx.Rngs(params=params_key, dropout=dropout_key))

  def init(key: jax.Array, sample_x: jax.Array) -> dict:
    params_key, dropout_key = jax.random.split(key)
    return _plain(nnx.to_pure_dict(nnx.state(module(sample_x, params_key, dropout_key),
                                             nnx.Param)))

  def apply(params: dict, x: jax.Array, rng: jax.Array | None = None) -> jax.Array:
    unused = jax.random.PRNGKey(0)
    model = module(x, unused, unused if rng is None else rng)
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    nnx.update(model, state)
    if rng is None:
      model.eval()
    else:
      model.train()
    return model(x)

  return Model(init, apply, num_classes, task)
