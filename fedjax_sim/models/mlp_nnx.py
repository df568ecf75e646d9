"""The NNX twin of `mlp.MLP`: the same layers, initializers and math."""

from __future__ import annotations

import math
from typing import Sequence

import jax
from flax import nnx


class MLP(nnx.Module):
  """Multi-layer perceptron with ReLU hidden layers, on flattened inputs."""

  def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int] = (200,),
               *, rngs: nnx.Rngs):
    widths = (in_features,) + tuple(hidden)
    self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths, widths[1:])])
    self.out = nnx.Linear(widths[-1], num_classes, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.reshape(x.shape[0], -1)
    for layer in self.hidden:
      x = nnx.relu(layer(x))
    return self.out(x)


def build(num_classes: int, hidden: Sequence[int] = (200,)):
  """`from_nnx`'s build of the MLP: the input size from the sample batch."""
  def make(sample_x: jax.Array, rngs: nnx.Rngs) -> MLP:
    return MLP(math.prod(sample_x.shape[1:]), num_classes, hidden, rngs=rngs)
  return make
