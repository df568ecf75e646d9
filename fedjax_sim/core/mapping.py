"""Map a per-client function over clients and sum its output, three ways.

`vmap` runs all clients at once; `chunked` scans over chunks of `chunk_size`
vmapped clients (memory bounded by the chunk, not by clients per round);
`sequential` scans over clients one at a time. All three sum inside the
program, so only the reduction (never every client's update) is kept.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from fedjax_sim.core.tree_util import zeros_of_output
from fedjax_sim.errors import ConfigError

STRATEGIES = ('vmap', 'chunked', 'sequential')
PyTree = Any
ClientFn = Callable[..., tuple[PyTree, PyTree]]


def map_and_sum(fn: ClientFn, xs: PyTree, strategy: str,
                chunk_size: int = 1) -> tuple[PyTree, PyTree]:
  """Applies `fn(*x) -> (summed, stacked)` to each client's slice of `xs`.

  Args:
    fn: per-client function; the first output is summed over clients, the
      second (small per-client values) is stacked.
    xs: tuple of arrays with a leading client axis (a multiple of
      `chunk_size` for the chunked strategy).
    strategy: one of `STRATEGIES`.
    chunk_size: clients per chunk for `chunked`.

  Returns:
    `(sum over clients, stacked per-client outputs)`.
  """
  if strategy == 'vmap':
    summed, stacked = jax.vmap(fn)(*xs)
    return jax.tree.map(lambda a: a.sum(0), summed), stacked
  if strategy == 'sequential':
    return _scan_sum(fn, xs)
  if strategy == 'chunked':
    num = jax.tree.leaves(xs)[0].shape[0]
    chunks = jax.tree.map(
        lambda a: a.reshape((num // chunk_size, chunk_size) + a.shape[1:]), xs)

    def chunk_fn(*chunk):
      summed, stacked = jax.vmap(fn)(*chunk)
      return jax.tree.map(lambda a: a.sum(0), summed), stacked

    summed, stacked = _scan_sum(chunk_fn, chunks)
    return summed, jax.tree.map(lambda a: a.reshape((num,) + a.shape[2:]), stacked)
  raise ConfigError(f'engine.strategy must be one of {STRATEGIES}, got {strategy!r}')


def _scan_sum(fn: ClientFn, xs: PyTree) -> tuple[PyTree, PyTree]:
  """Scans `fn` over the leading axis of `xs`, accumulating its first output."""
  first = jax.tree.map(lambda a: a[0], xs)
  zeros = zeros_of_output(lambda *x: fn(*x)[0], *first)

  def body(total, x):
    summed, stacked = fn(*x)
    return jax.tree.map(jnp.add, total, summed), stacked

  return jax.lax.scan(body, zeros, xs)
