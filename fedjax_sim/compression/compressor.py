"""`Compressor`: a lossy encoding of a client update, applied tensor by tensor.

A leaf of one element (a scalar an algorithm sends beside its model delta,
such as SCAFFOLD's and FedDyn's `trained` flag, FedNova's step count or
q-FedAvg's `h_k`) is sent as it is, a float32 of `SCALAR_BYTES`: no encoding
makes it smaller, and these scalars scale or count the rest of the update.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

PyTree = Any
SCALAR_BYTES = 4  # a float32


class Compressor(NamedTuple):
  """Pure functions of an update compressor.

  Attributes:
    compress: `(update, key) -> update`, what the server decodes from the
      client's payload (same structure and shapes).
    payload_bytes: `update -> int`, the payload size; depends on shapes only.
  """

  compress: Callable[[PyTree, jax.Array], PyTree]
  payload_bytes: Callable[[PyTree], int]


def per_tensor(compress_tensor: Callable[[jax.Array, jax.Array], jax.Array],
               tensor_bytes: Callable[[int], int]) -> Compressor:
  """A `Compressor` applying `compress_tensor(x, key)` to every leaf of more
  than one element (each with its own key) and paying `tensor_bytes(size)`
  bytes for it; one-element leaves pass as they are, `SCALAR_BYTES` each."""

  def compress(update: PyTree, key: jax.Array) -> PyTree:
    leaves, treedef = jax.tree.flatten(update)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [x if x.size == 1 else compress_tensor(x, k)
                                        for x, k in zip(leaves, keys)])

  def payload_bytes(update: PyTree) -> int:
    return sum(SCALAR_BYTES if x.size == 1 else tensor_bytes(x.size)
               for x in jax.tree.leaves(update))

  return Compressor(compress, payload_bytes)
