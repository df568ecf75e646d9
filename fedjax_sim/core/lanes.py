"""`lanes`: clients run in lanes that move on to their next client mid-loop.

All lanes run one local step at a time together (one `vmap`ped step), and
a lane whose client has run its last step finishes that client and takes
the next one from the clients' shared queue (longest first) at once, in the
same loop. A round then costs about the clients' total real steps divided
by the lanes, not clients x the longest client's steps as in a `vmap`ped
chunk, while every step is as wide as the lanes. Taking the next client
when free (longest-processing-time list scheduling) keeps the lanes within
one client's steps of each other whatever the sizes, where a queue per lane
dealt in a fixed snake order left the busiest lane 18% above the mean on
heavy-tailed sizes (`benchmarks/RESULTS.md`).

No algorithm changes: the client function is traced three ways under a
`loop_intercept` hook. *Start* runs it up to its local loop (one
`run_local_steps`, as `train_locally` has) and records the loop's initial
state and its step as a jaxpr, whose per-client values become lane state;
*step* runs that jaxpr; *finish* runs the client function again with the
loop's final state in place of the loop. A client function with no local
loop runs in chunks of the lanes' width (`mapping.map_and_sum`: there is
nothing to run back to back); one with two loops, a full pass over its data
(`fold_examples`), a loop inside a transformation of the client's own
(a jitted helper), or a differentiable round cannot run in lanes
(`LanesUnsupported`).

The client update's code around its loop runs more than once per client
(in *start* and in *finish*, for every lane at each switch): pure code
costs a little more, but side effects there (host callbacks) repeat.
Values the step closes over are lane state when they are traced and not
among the shared inputs: per-client values, and values computed from the
server state (one copy per lane).

On a CPU, a fixed-step plan's clients are prefetched (`lane_loops.prefetches`): *start*
also gathers all of the client's steps' examples at once, kept as lane
state, and the step reads its batch from there (about 4-5% faster on
equal-size logistic regression, `benchmarks/RESULTS.md`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.core import loop_intercept
from fedjax_sim.core.lane_loops import Finish, LanesUnsupported, Step, one_loop, recorded_loops

PyTree = Any


class _Lanes(NamedTuple):
  """The loop carry: `next` is a scalar, `stacked` has a leading client axis
  and every other leaf a leading lane axis. `summed` is each lane's sum over
  its finished clients: one running sum over all lanes measured 3x slower
  (ragged MLP, 2 lanes). `block` holds each lane's prefetched examples and
  masks (`[steps, ...]`; None without prefetching)."""

  position: jax.Array  # the lane's current client (`num`: none left)
  # The queue's next client. `max(position) + 1` would derive it, but that
  # made the ragged 1,000-client logistic round 34% slower (0.0342 s against
  # 0.0254 s, interleaved).
  next: jax.Array
  s: jax.Array  # the lane's next step
  num_steps: jax.Array
  state: PyTree
  total: PyTree
  hoisted: list
  summed: PyTree
  stacked: PyTree
  block: PyTree = None


def lanes_map_and_sum(fn: Callable[..., tuple[PyTree, PyTree]], xs: PyTree, lanes: int,
                      shared: PyTree = (), prefetch: bool | None = None
                      ) -> tuple[PyTree, PyTree]:
  """`map_and_sum` of `fn(*x) -> (summed, stacked)` over the clients of `xs`
  (ordered longest first) in `lanes` lanes; `fn` runs one local loop
  (`loop_count`).

  `shared`: the arrays `fn` closes over that do not depend on the client
  (data, server state); they stay out of the lane state.

  `prefetch` (default: on a CPU backend), for plans that `lane_loops.prefetches`
  accepts: a lane computes the example indices of all its client's steps and
  gathers their examples at once when it starts the client, instead of one
  step's indices and rows at every step; a step then reads its batch from
  the lane's block. Same batches, same results.
  """
  if prefetch is None:
    prefetch = jax.default_backend() == 'cpu'
  num = jax.tree.leaves(xs)[0].shape[0]
  shared_ids = {id(a) for a in jax.tree.leaves(shared)}
  template: list[Step] = []

  def start(*x):
    loop = one_loop(recorded_loops(fn, x, prefetch))
    if not template:  # per-client constants: tracers that are not shared inputs
      hoist = [isinstance(c, jax.core.Tracer) and id(c) not in shared_ids for c in loop.consts]
      template.append(Step(loop.jaxpr, [None if h else c for c, h in zip(loop.consts, hoist)],
                            hoist, loop.out_tree))
    if len(loop.consts) != len(template[0].hoist):
      raise LanesUnsupported("engine.strategy='lanes': the client update traces differently "
                             "each time; use 'chunked' or 'sequential'")
    hoisted = [c for c, h in zip(loop.consts, template[0].hoist) if h]
    return loop.state, loop.zeros, loop.num_steps, hoisted, loop.block

  def finish(x, state, total, num_steps):
    with loop_intercept.intercept(Finish((state, total, num_steps))):
      return fn(*x)

  def step(state, s, hoisted, block):
    if block is None:
      return template[0]((state, s), hoisted)
    examples, masks = block
    return template[0]((state, jax.tree.map(lambda a: a[s], examples), masks[s], s), hoisted)

  at = lambda position: jax.tree.map(  # noqa: E731
      lambda a: a[jnp.minimum(position, num - 1)], xs)
  first = jnp.minimum(jnp.arange(lanes, dtype=jnp.int32), num)
  state, total, num_steps, hoisted, block = jax.vmap(start)(*at(first))
  out_sum, out_stacked = jax.eval_shape(jax.vmap(fn), *at(first))
  zeros = lambda tree, shape: jax.tree.map(  # noqa: E731
      lambda a: jnp.zeros(shape + a.shape[1:], a.dtype), tree)
  carry = _Lanes(first, jnp.int32(min(lanes, num)), jnp.zeros(lanes, jnp.int32), num_steps,
                 state, total, hoisted, zeros(out_sum, (lanes,)), zeros(out_stacked, (num,)),
                 block)
  finished = lambda c: (c.s >= c.num_steps) & (c.position < num)  # noqa: E731

  def switch(c: _Lanes) -> _Lanes:
    done = finished(c)
    new_sum, new_stacked = jax.vmap(finish)(at(c.position), c.state, c.total, c.num_steps)
    summed = jax.tree.map(lambda acc, v: acc + _select(done, v, jnp.zeros_like(v)),
                          c.summed, new_sum)
    rows = jnp.where(done, c.position, num)  # out of bounds: dropped
    stacked = jax.tree.map(lambda buf, v: buf.at[rows].set(v, mode='drop'),
                           c.stacked, new_stacked)
    # The done lanes take the queue's next clients, in lane order.
    position = jnp.where(done, jnp.minimum(c.next + jnp.cumsum(done) - 1, num), c.position)
    take = done & (position < num)
    state, total, num_steps, hoisted, block = jax.vmap(start)(*at(position))
    keep = lambda new, old: jax.tree.map(lambda n, o: _select(take, n, o), new, old)  # noqa: E731
    return _Lanes(position, c.next + take.sum(dtype=jnp.int32), jnp.where(take, 0, c.s),
                  keep(num_steps, c.num_steps), keep(state, c.state), keep(total, c.total),
                  keep(hoisted, c.hoisted), summed, stacked, keep(block, c.block))

  def body(c: _Lanes) -> _Lanes:
    c = jax.lax.cond(jnp.any(finished(c)), switch, lambda c: c, c)
    active = (c.position < num) & (c.s < c.num_steps)
    state, aux = jax.vmap(step)(c.state, c.s, c.hoisted, c.block)
    return c._replace(
        s=c.s + active,
        state=jax.tree.map(lambda n, o: _select(active, n, o), state, c.state),
        total=jax.tree.map(lambda t, a: jnp.add(t, _select(active, a, jnp.zeros_like(a))),
                           c.total, aux))

  c = jax.lax.while_loop(lambda c: jnp.any(c.position < num), body, carry)
  return jax.tree.map(lambda a: a.sum(0), c.summed), c.stacked


def _select(mask: jax.Array, new: jax.Array, old: jax.Array | float) -> jax.Array:
  """`where(mask, new, old)` with `mask [lanes]` broadcast over trailing axes."""
  mask = mask.reshape(mask.shape + (1,) * (jnp.ndim(new) - 1))
  return jnp.where(mask, new, old)
