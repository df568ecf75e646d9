"""`ClientBatches`: one client's view of the padded data during a round."""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, TypeVar

import jax
import jax.numpy as jnp

from fedjax_sim.core import loop_intercept
from fedjax_sim.data.batching import BatchStream, real_steps
from fedjax_sim.errors import ConfigError

Acc = TypeVar('Acc')


class ClientBatches(NamedTuple):
  """What a client sees: all padded examples plus its own batch stream.

  Examples are gathered on demand, one step at a time inside the client's
  loop, so a client costs its real steps, not the padded example axis.

  Attributes:
    examples: the full padded arrays `[num_clients, max_examples, ...]`, or
      with `offset` the packed arrays `[total examples, ...]`
      (`fedjax_sim.data.packed`).
    client_id: this client's id (scalar int32).
    count: number of real examples of this client.
    stream: this round's batch stream of the client.
    row: this client's row in `examples` when the data hold only some clients
      (streamed data sets); None when the row is `client_id`.
    offset: packed data: the client's first example's row; None when padded.
    max_steps: a cap on the client's local steps this round (int32: partial
      work, e.g. a straggler's budget); None for no cap.
  """

  examples: Mapping[str, jax.Array]
  client_id: jax.Array
  count: jax.Array
  stream: BatchStream
  row: jax.Array | None = None
  offset: jax.Array | None = None
  max_steps: jax.Array | None = None

  @property
  def differentiable(self) -> bool:
    """Whether local loops have a fixed length (`BatchPlan.fixed_length`)."""
    return self.stream.plan.fixed_length

  @property
  def num_steps(self) -> jax.Array:
    """The client's number of local steps (int32): its real steps, capped
    by `max_steps`."""
    steps = real_steps(self.count, self.stream.plan)
    return steps if self.max_steps is None else jnp.minimum(steps, self.max_steps)

  def step(self, s: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
    """`(batch, mask)` of local step `s`."""
    indices, mask = self.stream.step(s)
    return self.batch(indices), mask

  def batch(self, indices: jax.Array) -> dict[str, jax.Array]:
    """Gathers the examples at `indices` (any int shape) of this client."""
    if self.offset is not None:
      return {k: jnp.asarray(v)[self.offset + indices] for k, v in self.examples.items()}
    row = self.client_id if self.row is None else self.row
    return {k: jnp.asarray(v)[row, indices]
            for k, v in self.examples.items()}

  def fold_examples(self, fn: Callable[[Acc, dict[str, jax.Array], jax.Array], Acc],
                    init: Acc, size: int) -> Acc:
    """Folds `fn(acc, batch, mask)` over the real examples in order, `size`
    at a time (the last slice masked); `ceil(count / size)` iterations."""
    hook = loop_intercept.current()
    if hook is not None:
      hook.full_pass()
    if self.differentiable:
      raise ConfigError('full passes over a client\'s data (fold_examples) are not '
                        'differentiable yet; use an algorithm with local steps')
    slots = jnp.arange(size, dtype=jnp.int32)

    def body(i, acc):
      rows = i * size + slots
      mask = rows < self.count
      return fn(acc, self.batch(jnp.where(mask, rows, 0)), mask)

    return jax.lax.fori_loop(0, (self.count + size - 1) // size, body, init)

