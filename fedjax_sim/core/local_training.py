"""Local training of one client: a masked `lax.scan` over its steps."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.core.client_batches import ClientBatches

State = TypeVar('State')
StepFn = Callable[[State, dict, jax.Array, jax.Array], tuple[State, Any]]


def run_local_steps(step: StepFn, state: State, batches: ClientBatches,
                    key: jax.Array) -> tuple[State, Any, jax.Array]:
  """Runs `step(state, batch, mask, key) -> (state, aux)` over every step.

  A step whose batch is all padding leaves `state` untouched (bit for bit).
  The client's `[steps, batch, ...]` examples are gathered once before the
  scan (one contiguous gather beats one small gather per step on CPU).

  Returns:
    `(final_state, aux stacked over steps, step_valid [steps])`.
  """
  step_valid = batches.mask.any(axis=1)
  keys = jax.random.split(key, batches.indices.shape[0])
  examples = batches.batch(batches.indices)

  def body(state, xs):
    batch, mask, valid, step_key = xs
    new_state, aux = step(state, batch, mask, step_key)
    kept = jax.tree.map(lambda new, old: jnp.where(valid, new, old),
                        new_state, state)
    return kept, aux

  state, aux = jax.lax.scan(body, state,
                            (examples, batches.mask, step_valid, keys))
  return state, aux, step_valid


LossFn = Callable[[Any, dict, jax.Array, jax.Array], jax.Array]


class LocalResult(NamedTuple):
  """Outcome of `train_locally`.

  Attributes:
    params: the client's final parameters.
    loss: mean training loss over the real steps (0 for an empty client).
    num_steps: number of real (not all-padding) steps, float32.
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

  def step(carry, batch, mask, step_key):
    local, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(local, batch, mask, step_key)
    if grad_fn is not None:
      grads = grad_fn(grads, local)
    updates, opt_state = optimizer.update(grads, opt_state, local)
    return (optax.apply_updates(local, updates), opt_state), loss

  (final, _), losses, valid = run_local_steps(
      step, (params, optimizer.init(params)), batches, key)
  num_steps = valid.sum().astype(jnp.float32)
  loss = jnp.sum(losses * valid) / jnp.maximum(num_steps, 1.)
  return LocalResult(final, loss, num_steps)
