"""Recording a client's local loop for `lanes`: *start* traces the client
function up to its loop (`run_local_steps`) under a `loop_intercept` hook and
records the loop's initial state and one step as a jaxpr (`Loop`, `Step`);
*finish* runs the function again with the loop's result in its place.
Whether a client function can run in lanes (`supported`, `loop_count`), and
whether a plan's steps are prefetched (`prefetches`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, get_opaque_trace_state, jaxpr_as_fun

from fedjax_sim.core import loop_intercept, refusals
from fedjax_sim.core.local_training import step_key
from fedjax_sim.errors import ConfigError

PyTree = Any
# Fixed-step plans of at most this many steps are prefetched (`prefetches`).
PREFETCH_STEPS = 16


class LanesUnsupported(ConfigError):
  """The client function cannot be split into start, steps and finish."""


class Loop(NamedTuple):
  """One client's local loop as *start* records it: its initial state, the
  zeros its aux sum starts from, its steps, and one step as a jaxpr of
  `(state leaves, s)` with its constants."""

  state: PyTree
  zeros: PyTree
  num_steps: jax.Array
  jaxpr: Any
  consts: list
  out_tree: Any
  block: Any = None  # prefetched: (examples [steps, batch, ...], masks [steps, batch])


class Step(NamedTuple):
  """The step every lane runs, from the first *start*: `hoist[i]` says
  whether the jaxpr's constant i is per-client (lane state); `kept` holds the
  others (None where hoisted)."""

  jaxpr: Any
  kept: list
  hoist: list[bool]
  out_tree: Any

  def __call__(self, args: tuple, hoisted: list) -> tuple[PyTree, PyTree]:
    """The step of `args`: `(state, s)`, or with prefetched blocks
    `(state, batch, mask, s)`."""
    it = iter(hoisted)
    consts = [next(it) if h else c for c, h in zip(self.kept, self.hoist)]
    out = jaxpr_as_fun(ClosedJaxpr(self.jaxpr, consts))(*jax.tree.leaves(args))
    return jax.tree.unflatten(self.out_tree, out)


class Start:
  """Hook of *start*: records the loop and returns a placeholder result.

  With `prefetch` and a plan that `prefetches`, the recorded step takes its
  batch as an input, and the hook gathers the examples of all the plan's
  steps at once (`Loop.block`)."""

  def __init__(self, prefetch: bool = False):
    self.trace = get_opaque_trace_state()
    self.loops: list[Loop] = []
    self.prefetch = prefetch

  def local_loop(self, step, state, batches, key):
    if batches.differentiable:
      raise LanesUnsupported(refusals.LANES_DIFFERENTIABLE.message('lanes'))
    if get_opaque_trace_state() != self.trace:
      raise LanesUnsupported("engine.strategy='lanes': the client update runs its local "
                             "loop inside a transformation of its own (jit, vmap, "
                             "checkpoint or a cond branch); use 'chunked' or 'sequential'")

    num_steps = batches.num_steps
    plan = batches.stream.plan
    if self.prefetch and prefetches(plan):
      def one_step(state, batch, mask, s):
        return step(state, batch, mask, step_key(key, s))

      batch, mask = jax.eval_shape(batches.step, jnp.int32(0))
      closed, (_, aux_shape) = jax.make_jaxpr(one_step, return_shape=True)(
          state, batch, mask, jnp.int32(0))
      block = jax.vmap(batches.step)(jnp.arange(plan.num_steps, dtype=jnp.int32))
    else:
      def one_step(state, s):
        batch, mask = batches.step(s)
        return step(state, batch, mask, step_key(key, s))

      closed, (_, aux_shape) = jax.make_jaxpr(one_step, return_shape=True)(state, jnp.int32(0))
      block = None
    zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), aux_shape)
    self.loops.append(Loop(state, zeros, num_steps, closed.jaxpr, list(closed.consts),
                            jax.tree.structure((state, aux_shape)), block))
    return state, zeros, num_steps

  def full_pass(self):
    raise LanesUnsupported(refusals.LANES_FULL_PASS.message('lanes'))


class Finish:
  """Hook of *finish*: the loop's result is the one the lane computed."""

  def __init__(self, result: tuple[PyTree, PyTree, jax.Array]):
    self.result = result

  def local_loop(self, step, state, batches, key):
    del step, state, batches, key
    return self.result

  def full_pass(self):  # *start* has refused these already
    raise AssertionError('unreachable')


def prefetches(plan) -> bool:
  """Whether lanes prefetch a client's steps for `plan`: a fixed number of
  steps (`epochs` None: every non-empty client runs them all, so none of the
  block is gathered in vain) of at most `PREFETCH_STEPS`. Clients of an
  epochs plan run their own numbers of steps and switch often; gathering a
  block at every switch measured 26% slower there (ragged logistic
  regression, benchmarks/RESULTS.md)."""
  return plan.epochs is None and plan.num_steps <= PREFETCH_STEPS


def loop_count(fn: Callable[..., Any], x: PyTree) -> int:
  """How many local loops `fn(*x)` (one client's inputs, abstract or not)
  runs; LanesUnsupported for a client that lanes cannot run."""
  count = []
  jax.eval_shape(lambda *x: count.append(len(recorded_loops(fn, x))), *x)
  return count[0]


def supported(fn: Callable[..., Any], x: PyTree) -> bool:
  """Whether `fn(*x)` can run in lanes (`map_and_sum` runs clients without
  a local loop in chunks)."""
  try:
    return loop_count(fn, x) <= 1
  except LanesUnsupported:
    return False


def recorded_loops(fn: Callable[..., Any], x: tuple,
                    prefetch: bool = False) -> list[Loop]:
  """*Start* of one client (called while `fn` is traced): the local loops
  it runs, as `Start` records them."""
  hook = Start(prefetch)
  with loop_intercept.intercept(hook):
    fn(*x)
  return hook.loops


def one_loop(loops: list[Loop]) -> Loop:
  if len(loops) != 1:
    raise LanesUnsupported(refusals.LANES_LOOPS.message('lanes', f' ({len(loops)} loops)'))
  return loops[0]
