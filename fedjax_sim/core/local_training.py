"""Local training of one client: a loop over the client's own real steps."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.core import loop_intercept
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.tree_util import zeros_of_output

State = TypeVar('State')
StepFn = Callable[[State, dict, jax.Array, jax.Array], tuple[State, Any]]
# Most local steps whose examples are gathered together (see run_local_steps).
BLOCK_STEPS = 8


def step_key(key: jax.Array, s: jax.Array) -> jax.Array:
  """The PRNG key of local step `s` (e.g. for dropout)."""
  return jax.random.fold_in(key, s)


def run_local_steps(step: StepFn, state: State, batches: ClientBatches,
                    key: jax.Array) -> tuple[State, Any, jax.Array]:
  """Runs `step(state, batch, mask, key) -> (state, aux)` over the client's
  `batches.num_steps` real steps: loops whose trip counts are the client's
  own, so a small client costs few steps (under `vmap` the mapped clients run
  in lock-step until the longest is done; finished clients' states are kept
  as they are, bit for bit).

  Steps run in blocks of `block_size(plan.num_steps)`: a block's example
  indices are computed and its examples gathered at once (a few vectorized
  operations instead of many tiny ones per step), then its real steps run
  one by one.

  With `batches.differentiable`, the loop is a `lax.scan` over the plan's
  `num_steps` steps instead, each rematerialized in the backward pass
  (`jax.checkpoint`) unless the plan's `remat_steps` is off, steps past the
  client's own leaving the state as it is:
  reverse-mode differentiable, at the cost of the longest client's steps.

  Returns:
    `(final_state, aux summed over the steps, num_steps int32)`.

  Under `loop_intercept.intercept(hook)` the hook runs the loop instead
  (the `lanes` layout).
  """
  hook = loop_intercept.current()
  if hook is not None:
    return hook.local_loop(step, state, batches, key)
  num_steps = batches.num_steps
  if batches.differentiable:
    state, total = _scan_local_steps(step, state, batches, key)
    return state, total, num_steps
  block = block_size(batches.stream.plan.num_steps)
  offsets = jnp.arange(block, dtype=jnp.int32)

  def run_block(b, carry):
    first = b * block
    examples, masks = jax.vmap(batches.step)(first + offsets)

    def run_step(j, carry):
      state, total = carry
      batch = jax.tree.map(lambda a: a[j], examples)
      state, aux = step(state, batch, masks[j], step_key(key, first + j))
      return state, jax.tree.map(jnp.add, total, aux)

    return jax.lax.fori_loop(0, jnp.minimum(block, num_steps - first), run_step, carry)

  first_batch, first_mask = jax.eval_shape(batches.step, jnp.int32(0))
  zeros = zeros_of_output(lambda *a: step(*a)[1], state, first_batch, first_mask, key)
  state, total = jax.lax.fori_loop(0, (num_steps + block - 1) // block, run_block,
                                   (state, zeros))
  return state, total, num_steps


def _scan_local_steps(step: StepFn, state: State, batches: ClientBatches,
                      key: jax.Array) -> tuple[State, Any]:
  """`run_local_steps` with a fixed trip count: `(final state, aux sum)`."""
  num_steps = batches.num_steps

  def body(carry, s):
    state, total = carry
    batch, mask = batches.step(s)
    new_state, aux = step(state, batch, mask, step_key(key, s))
    real = s < num_steps
    keep = lambda new, old: jnp.where(real, new, old)  # noqa: E731
    return (jax.tree.map(keep, new_state, state),
            jax.tree.map(lambda t, a: t + jnp.where(real, a, 0), total, aux)), None

  first_batch, first_mask = jax.eval_shape(batches.step, jnp.int32(0))
  zeros = zeros_of_output(lambda *a: step(*a)[1], state, first_batch, first_mask, key)
  plan = batches.stream.plan
  steps = jnp.arange(plan.num_steps, dtype=jnp.int32)
  (state, total), _ = jax.lax.scan(jax.checkpoint(body) if plan.remat_steps else body,
                                   (state, zeros), steps)
  return state, total


def block_size(num_steps: int) -> int:
  """Steps per block for a plan of `num_steps` steps (clients run at most
  that many): all of them up to `BLOCK_STEPS`; beyond, the largest size from
  `BLOCK_STEPS` down to `BLOCK_STEPS // 2 + 1` (5) that divides `num_steps`
  (10 steps: two blocks of 5, so a client running the plan's steps gathers
  no unused step), else `BLOCK_STEPS`."""
  if num_steps <= BLOCK_STEPS:
    return num_steps
  return next((b for b in range(BLOCK_STEPS, BLOCK_STEPS // 2, -1) if num_steps % b == 0),
              BLOCK_STEPS)


LossFn = Callable[[Any, dict, jax.Array, jax.Array], jax.Array]


class LocalResult(NamedTuple):
  """Outcome of `train_locally`.

  Attributes:
    params: the client's final parameters.
    loss: mean training loss over the real steps (0 for an empty client).
    num_steps: number of real steps, float32.
  """

  params: Any
  loss: jax.Array
  num_steps: jax.Array


def train_locally(loss_fn: LossFn, optimizer: optax.GradientTransformation,
                  params: Any, batches: ClientBatches, key: jax.Array,
                  grad_fn: Callable[[Any, Any], Any] | None = None) -> LocalResult:
  """Optimizes `loss_fn(params, batch, mask, key)` over the client's batches.

  `grad_fn(grads, params) -> grads`, if given, edits each step's gradient
  before the optimizer sees it (e.g. SCAFFOLD's control-variate correction).
  """

  def step(carry, batch, mask, key):
    local, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(local, batch, mask, key)
    if grad_fn is not None:
      grads = grad_fn(grads, local)
    updates, opt_state = optimizer.update(grads, opt_state, local)
    return (optax.apply_updates(local, updates), opt_state), loss

  (final, _), loss_sum, num_steps = run_local_steps(
      step, (params, optimizer.init(params)), batches, key)
  num_steps = num_steps.astype(jnp.float32)
  return LocalResult(final, loss_sum / jnp.maximum(num_steps, 1.), num_steps)
