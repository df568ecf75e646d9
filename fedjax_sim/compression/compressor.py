"""`Compressor`: a lossy encoding of a client update, applied tensor by tensor."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

PyTree = Any


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
  """A `Compressor` applying `compress_tensor(x, key)` to every leaf (each with
  its own key) and paying `tensor_bytes(size)` bytes per leaf."""

  def compress(update: PyTree, key: jax.Array) -> PyTree:
    leaves, treedef = jax.tree.flatten(update)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [compress_tensor(x, k)
                                        for x, k in zip(leaves, keys)])

  def payload_bytes(update: PyTree) -> int:
    return sum(tensor_bytes(x.size) for x in jax.tree.leaves(update))

  return Compressor(compress, payload_bytes)
