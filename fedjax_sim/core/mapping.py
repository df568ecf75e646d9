"""Map a per-client function over clients and sum its output, four ways.

`vmap` runs all clients at once, in lock-step; `chunked` scans over chunks
of `chunk_size` vmapped clients (memory bounded by the chunk, not by clients
per round); `sequential` scans over clients one at a time; `lanes` runs
`chunk_size` lanes in lock-step, each moving on to its next client as soon
as its current one is done (`fedjax_sim.core.lanes`). All four sum inside
the program, so only the reduction (never every client's update) is kept.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from fedjax_sim.core.lane_loops import loop_count
from fedjax_sim.core.lanes import lanes_map_and_sum
from fedjax_sim.core.tree_util import zeros_of_output
from fedjax_sim.errors import ConfigError

STRATEGIES = ('vmap', 'chunked', 'sequential', 'lanes')
PyTree = Any
ClientFn = Callable[..., tuple[PyTree, PyTree]]


def map_and_sum(fn: ClientFn, xs: PyTree, strategy: str,
                chunk_size: int = 1, shared: PyTree = ()) -> tuple[PyTree, PyTree]:
  """Applies `fn(*x) -> (summed, stacked)` to each client's slice of `xs`.

  Args:
    fn: per-client function; the first output is summed over clients, the
      second (small per-client values) is stacked.
    xs: tuple of arrays with a leading client axis (a multiple of
      `chunk_size` for `chunked` and `lanes`), longest client first.
    strategy: one of `STRATEGIES`.
    chunk_size: clients per chunk for `chunked`, lanes for `lanes`.
    shared: `lanes`: the arrays `fn` closes over that do not depend on the
      client (data, server state), kept out of the lane state.

  Returns:
    `(sum over clients, stacked per-client outputs)`.
  """
  if strategy == 'vmap':
    summed, stacked = jax.vmap(fn)(*xs)
    return jax.tree.map(lambda a: a.sum(0), summed), stacked
  if strategy == 'sequential':
    return _scan_sum(fn, xs)
  if strategy == 'lanes':
    if loop_count(fn, jax.tree.map(lambda a: a[0], xs)) == 0:
      return map_and_sum(fn, xs, 'chunked', chunk_size)  # nothing to run back to back
    return lanes_map_and_sum(fn, xs, chunk_size, shared)
  if strategy == 'chunked':
    num = jax.tree.leaves(xs)[0].shape[0]
    if num < 2 * chunk_size or chunk_size == 1:
      return _chunked(fn, xs, chunk_size)
    # The first chunk's clients (the longest, as the engine orders them) run
    # one at a time, so one long client does not hold up a whole chunk.
    (head_sum, head), (rest_sum, rest) = (
        _scan_sum(fn, jax.tree.map(lambda a: a[:chunk_size], xs)),
        _chunked(fn, jax.tree.map(lambda a: a[chunk_size:], xs), chunk_size))
    return (jax.tree.map(jnp.add, head_sum, rest_sum),
            jax.tree.map(lambda a, b: jnp.concatenate([a, b]), head, rest))
  raise ConfigError(f'engine.strategy must be one of {STRATEGIES}, got {strategy!r}')


def _chunked(fn: ClientFn, xs: PyTree, chunk_size: int) -> tuple[PyTree, PyTree]:
  """Scans over chunks of `chunk_size` vmapped clients."""
  num = jax.tree.leaves(xs)[0].shape[0]
  chunks = jax.tree.map(
      lambda a: a.reshape((num // chunk_size, chunk_size) + a.shape[1:]), xs)

  def chunk_fn(*chunk):
    summed, stacked = jax.vmap(fn)(*chunk)
    return jax.tree.map(lambda a: a.sum(0), summed), stacked

  summed, stacked = _scan_sum(chunk_fn, chunks)
  return summed, jax.tree.map(lambda a: a.reshape((num,) + a.shape[2:]), stacked)


def _scan_sum(fn: ClientFn, xs: PyTree) -> tuple[PyTree, PyTree]:
  """Scans `fn` over the leading axis of `xs`, accumulating its first output."""
  first = jax.tree.map(lambda a: a[0], xs)
  zeros = zeros_of_output(lambda *x: fn(*x)[0], *first)

  def body(total, x):
    summed, stacked = fn(*x)
    return jax.tree.map(jnp.add, total, summed), stacked

  return jax.lax.scan(body, zeros, xs)
