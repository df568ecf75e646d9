"""Round-state checkpoints with orbax: atomic, every k rounds, last n kept.

A checkpoint is the whole `RoundState` (server state, every client's persistent
state, aggregator state) at a round boundary, saved under its round number.
Round keys and client samples are functions of (seed, round), so the round
number is all the randomness a resumed run needs to continue bit-identically.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from fedjax_sim.errors import DataError

PyTree = Any


def manager(directory: str, keep: int) -> ocp.CheckpointManager:
  """An orbax manager over `directory` keeping the last `keep` checkpoints."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(mgr: ocp.CheckpointManager, rounds_done: int, state: PyTree) -> None:
  """Saves `state` as the checkpoint after `rounds_done` rounds (atomically:
  orbax writes to a temporary directory and renames it when complete)."""
  mgr.save(rounds_done, args=ocp.args.StandardSave(state))
  mgr.wait_until_finished()


def restore_latest(mgr: ocp.CheckpointManager, like: PyTree) -> tuple[int, PyTree] | None:
  """`(rounds_done, state)` of the newest checkpoint, shaped like `like`; None
  when there is none. A checkpoint that cannot be read is one clear error."""
  step = mgr.latest_step()
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  try:
    state = mgr.restore(step, args=ocp.args.StandardRestore(abstract))
  except Exception as e:  # orbax raises many types for unreadable files
    path = os.path.join(str(mgr.directory), str(step))
    raise DataError(f'checkpoint {path} is corrupt or does not match this '
                    f'experiment ({type(e).__name__}: {str(e)[:200]})') from e
  return step, state
