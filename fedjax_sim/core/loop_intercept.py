"""A hook on clients' local loops, for engines that run the loops themselves.

`run_local_steps` and `ClientBatches.fold_examples` ask `current()` first;
outside `intercept(...)` there is no hook and they run as usual. The `lanes`
layout (`fedjax_sim.core.lanes`) uses it to split a client's update into its
start, its steps and its finish without any change to the algorithm.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator, Protocol


class LoopHook(Protocol):
  """What an intercepting engine implements."""

  def local_loop(self, step: Any, state: Any, batches: Any, key: Any) -> tuple[Any, Any, Any]:
    """Stands in for `run_local_steps(step, state, batches, key)`."""

  def full_pass(self) -> None:
    """Called when a client folds over all its examples (`fold_examples`)."""


_HOOK: contextvars.ContextVar[LoopHook | None] = contextvars.ContextVar(
    'fedjax_sim_loop_hook', default=None)


def current() -> LoopHook | None:
  """The hook in force, or None."""
  return _HOOK.get()


@contextlib.contextmanager
def intercept(hook: LoopHook) -> Iterator[None]:
  """Runs the enclosed code (a client's update, while it is traced) with `hook`."""
  token = _HOOK.set(hook)
  try:
    yield
  finally:
    _HOOK.reset(token)
