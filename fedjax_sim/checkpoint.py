"""Round-state checkpoints with orbax: atomic, every k rounds, last n kept.

A checkpoint is the whole `RoundState` (server state, every client's persistent
state, aggregator state) at a round boundary, saved under its round number.
Round keys and client samples are functions of (seed, round), so the round
number is all the randomness a resumed run needs to continue bit-identically.

Each checkpoint carries the SHA-256 of its files (`sha256sums.json`); resume
verifies them and falls back to the newest intact checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp

from fedjax_sim import runlog

PyTree = Any
SUMS = 'sha256sums.json'


def manager(directory: str, keep: int) -> ocp.CheckpointManager:
  """An orbax manager over `directory` keeping the last `keep` checkpoints."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(mgr: ocp.CheckpointManager, rounds_done: int, state: PyTree) -> None:
  """Saves `state` as the checkpoint after `rounds_done` rounds, then its
  checksums. Orbax writes to a temporary directory and renames it when
  complete; a checkpoint killed before its checksums are written counts as
  incomplete on resume."""
  mgr.save(rounds_done, args=ocp.args.StandardSave(state))
  mgr.wait_until_finished()
  step_dir = os.path.join(str(mgr.directory), str(rounds_done))
  runlog.write_json_atomic(os.path.join(step_dir, SUMS), _checksums(step_dir))


def _checksums(step_dir: str) -> dict[str, str]:
  """SHA-256 of every file of a checkpoint (but the checksum file itself)."""
  sums = {}
  for root, _, files in os.walk(step_dir):
    for name in files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, step_dir)
      if rel != SUMS:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
          for block in iter(lambda: f.read(1 << 20), b''):  # large files in 1 MiB blocks
            digest.update(block)
        sums[rel] = digest.hexdigest()
  return dict(sorted(sums.items()))


def verify(step_dir: str) -> str | None:
  """Why the checkpoint in `step_dir` is not intact, or None when it is."""
  try:
    saved = runlog.read_json(os.path.join(step_dir, SUMS))
  except ValueError:
    return f'{SUMS} is not valid JSON'
  if saved is None:
    return f'no {SUMS} (the run stopped while saving it)'
  found = _checksums(step_dir)
  changed = sorted(set(saved) ^ set(found) | {k for k in saved if saved[k] != found.get(k)})
  return f'checksum mismatch in {", ".join(changed[:3])}' if changed else None


def _to_stderr(line: str) -> None:
  print(line, file=sys.stderr)


def restore_latest(mgr: ocp.CheckpointManager, like: PyTree,
                   warn: Callable[[str], None] = _to_stderr) -> tuple[int, PyTree] | None:
  """`(rounds_done, state)` of the newest intact checkpoint, shaped like
  `like`; None when there is none.

  A checkpoint that fails its checksums or cannot be read is moved out of the
  way to `<checkpoints>_corrupt/<step>` (so its step can be written again),
  named to `warn`, and the next older one is tried.
  """
  directory = str(mgr.directory)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  for step in sorted(mgr.all_steps(), reverse=True):
    step_dir = os.path.join(directory, str(step))
    problem = verify(step_dir)
    if problem is None:
      try:
        return step, _quietly(lambda: mgr.restore(step, args=ocp.args.StandardRestore(abstract)))
      except Exception as e:  # orbax raises many types for unreadable files
        problem = f'unreadable ({type(e).__name__}: {" ".join(str(e).split())[:160]})'
    moved = os.path.join(f'{directory}_corrupt', str(step))
    os.makedirs(os.path.dirname(moved), exist_ok=True)
    shutil.rmtree(moved, ignore_errors=True)
    os.replace(step_dir, moved)
    mgr.reload()
    warn(f'warning: checkpoint {step_dir} is corrupt: {problem}; moved to {moved}, '
         'falling back to the previous checkpoint')
  return None


def _quietly(fn: Callable[[], Any]) -> Any:
  """Runs `fn` with absl/orbax error logging silenced (a failed restore is
  reported once by the caller, not as an asyncio traceback)."""
  logger = logging.getLogger()
  level = logger.level
  logger.setLevel(logging.CRITICAL)
  try:
    return fn()
  finally:
    logger.setLevel(level)
