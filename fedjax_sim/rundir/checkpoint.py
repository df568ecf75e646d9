"""Round-state checkpoints with orbax: atomic, every k rounds, last n kept.

A checkpoint is the whole `RoundState` (server state, every client's persistent
state, aggregator state) at a round boundary, saved under its round number.
Round keys and client samples are functions of (seed, round), so the round
number is all the randomness a resumed run needs to continue bit-identically.

Each checkpoint carries the SHA-256 of its files (`sha256sums.json`); resume
verifies them and falls back to the newest intact checkpoint.

In a multi-process run every process takes part in orbax's save and restore
(each writes its shards, orbax commits); process 0 writes the checksums and
decides which checkpoint is intact (`fedjax_sim.distributed`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp

from fedjax_sim.cli import to_stderr
from fedjax_sim.rundir import runlog
from fedjax_sim.rundir.write_errors import writing
from fedjax_sim.distributed import any_process, barrier, from_primary, is_primary

PyTree = Any
SUMS = 'sha256sums.json'


class _NotOrbax(logging.Filter):
  """Drops orbax's own log lines (`W1206 ... Metadata file does not exist`,
  its errors after a failed save): this module reports what matters once, in
  words (a corrupt checkpoint, a file that cannot be written)."""

  def filter(self, record: logging.LogRecord) -> bool:
    return '/orbax/' not in record.pathname.replace(os.sep, '/')


logging.getLogger('absl').addFilter(_NotOrbax())  # orbax logs through absl.logging


def _drain_then_close(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
  """Orbax runs each save step in a fresh event loop and closes it as soon as
  the step's coroutine ends. When one tensorstore write fails (a full disk),
  `asyncio.gather` raises at once and the loop is closed while the step's
  other writes are still in flight; each of them, finishing, calls
  `call_soon_threadsafe` on the closed loop and tensorstore prints
  'RuntimeError: Event loop is closed' with a traceback (issue 28, item 13).
  This wrapper runs `run` on a loop that waits for the tasks still pending
  (without cancelling them) before it closes, so nothing finishes on a
  closed loop; the first error is raised as before."""
  import asyncio

  def wrapped(coro):
    loop = asyncio.new_event_loop()
    try:
      asyncio.set_event_loop(loop)
      return loop.run_until_complete(coro)
    finally:
      try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if pending:
          loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
      finally:
        asyncio.set_event_loop(None)
        loop.close()
  wrapped.__wrapped__ = run
  return wrapped


def _patch_orbax_loops() -> None:
  from orbax.checkpoint._src import asyncio_utils  # pylint: disable=import-outside-toplevel
  run = getattr(asyncio_utils, '_run_sync_via_new_loop', None)
  if run is not None and not hasattr(run, '__wrapped__'):
    asyncio_utils._run_sync_via_new_loop = _drain_then_close(run)


_patch_orbax_loops()


def manager(directory: str, keep: int, create: bool = True) -> ocp.CheckpointManager:
  """An orbax manager over `directory` keeping the last `keep` checkpoints
  (`create`: make the directory; a reader does not)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(mgr: ocp.CheckpointManager, rounds_done: int, state: PyTree) -> None:
  """Saves `state` as the checkpoint after `rounds_done` rounds, then its
  checksums. Orbax writes to a temporary directory and renames it when
  complete; a checkpoint killed before its checksums are written counts as
  incomplete on resume."""
  step_dir = os.path.join(str(mgr.directory), str(rounds_done))
  with writing(step_dir):  # an OS error that names no file names the checkpoint
    mgr.save(rounds_done, args=ocp.args.StandardSave(state))
    mgr.wait_until_finished()
  if is_primary():
    sums, digests = os.path.join(step_dir, SUMS), _checksums(step_dir)
    with writing(sums):
      runlog.write_json_atomic(sums, digests)
  barrier(f'checksums {rounds_done}')


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


def restore_latest(mgr: ocp.CheckpointManager, like: PyTree,
                   warn: Callable[[str], None] = to_stderr,
                   set_aside: bool = True) -> tuple[int, PyTree] | None:
  """`(rounds_done, state)` of the newest intact checkpoint, shaped like
  `like`; None when there is none.

  A checkpoint that fails its checksums or cannot be read is named to `warn`
  and the next older one is tried. With `set_aside` (a run that will write
  the directory) it is moved out of the way to `<checkpoints>_corrupt/<step>`,
  so its step can be written again; without (a reader) it is left in place.
  """
  bad: set[int] = set()
  while True:
    step = from_primary(_newest_verified(mgr, warn, bad, set_aside) if is_primary() else -1)
    mgr.reload()
    if step < 0:
      if bad and set_aside and is_primary():
        warn(f'warning: no intact checkpoint is left in {mgr.directory}; the run starts '
             'again from round 0')
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    try:
      state, problem = _quietly(lambda: mgr.restore(step, args=ocp.args.StandardRestore(
          abstract))), None
    except Exception as e:  # orbax raises many types for unreadable files
      state, problem = None, f'unreadable ({type(e).__name__}: {" ".join(str(e).split())[:160]})'
    if not any_process(problem is not None):
      return step, state
    if is_primary():
      _reject(mgr, step, problem or 'unreadable on another process', warn, bad, set_aside)
    barrier(f'set aside {step}')


def _newest_verified(mgr: ocp.CheckpointManager, warn: Callable[[str], None],
                     bad: set[int], set_aside: bool) -> int:
  """The newest checkpoint not in `bad` whose checksums hold (-1: none);
  newer ones that fail are rejected (`_reject`)."""
  for step in sorted(set(mgr.all_steps()) - bad, reverse=True):
    problem = verify(os.path.join(str(mgr.directory), str(step)))
    if problem is None:
      return step
    _reject(mgr, step, problem, warn, bad, set_aside)
  return -1


def _reject(mgr: ocp.CheckpointManager, step: int, problem: str,
            warn: Callable[[str], None], bad: set[int], set_aside: bool) -> None:
  """Adds `step` to `bad`, says why, and with `set_aside` moves it to
  `<checkpoints>_corrupt/<step>`."""
  bad.add(step)
  directory = str(mgr.directory)
  step_dir = os.path.join(directory, str(step))
  older = any(s < step for s in mgr.all_steps())
  then = 'falling back to the previous checkpoint' if older else 'no older checkpoint is left'
  if not set_aside:
    warn(f'warning: checkpoint {step_dir} is corrupt: {problem}; {then}')
    return
  moved = os.path.join(f'{directory}_corrupt', str(step))
  os.makedirs(os.path.dirname(moved), exist_ok=True)
  shutil.rmtree(moved, ignore_errors=True)
  os.replace(step_dir, moved)
  mgr.reload()
  warn(f'warning: checkpoint {step_dir} is corrupt: {problem}; moved to {moved}, {then}')


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
