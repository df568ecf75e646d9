"""Every client's persistent state on disk, with a rollback journal.

`engine.population='disk'`: SCAFFOLD's controls, error-feedback residuals or
Ditto's models for a population too large for host memory (SCAFFOLD with
the CNN at 10,000 clients: about 48 GB) live in memory-mapped `.npy` files,
one per leaf of the client state, `[num_clients, ...]`. A round reads only
the sampled clients' rows and writes their new rows back
(`fedjax_sim.core.placement` for the in-memory placements), so host and
device memory hold one round's rows, whatever the population.

The files are not copied into checkpoints (that would write the whole
population each time). Instead, once a checkpoint exists, before a round
overwrites rows, the old values of those not yet saved since the newest
checkpoint go to `journal/<rounds done>.npz` (atomically: a kill leaves
either the whole entry or none). Resuming from the checkpoint after round R
undoes the entries of the rounds after R, newest first, which returns every
row to its value after round R, then deletes them newest first (so a kill
during a rollback leaves entries the next one can still undo): a kill at any
moment resumes bit-identically. Entries older than every kept checkpoint
are deleted (`checkpointed`), so the journal holds at most one copy of the
population per kept checkpoint.

Layout of a store directory: `leaf-<i>.npy` (the i-th leaf of the client
state, in `jax.tree.leaves` order) and `journal/`.
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import shutil
import tempfile
import zipfile
from typing import Any, Callable

import jax
import numpy as np

from fedjax_sim.rundir import runlog
from fedjax_sim.core.placement import gather_rows, scatter_rows
from fedjax_sim.errors import ConfigError, DataError

PyTree = Any
JOURNAL = 'journal'
ENTRY = re.compile(r'\d{9}\.npz')  # a journal entry's name: the rounds done
# The .npy header readers of the format versions that open_memmap writes.
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}
# Rows written at a time while filling a new store from the initial state.
FILL_ROWS = 4096


class ClientStateStore:
  """A population's client states in memory-mapped files (module docstring).

  Attributes:
    directory: where the files are.
    states: the client-state pytree, leaves `np.memmap` `[num_clients, ...]`.
  """

  def __init__(self, directory: str, one: PyTree, num_clients: int, fresh: bool,
               journal: bool = False):
    """Opens the store in `directory` for client states shaped like `one`.

    Args:
      directory: the store's directory (created if missing).
      one: one client's initial state (arrays, or shape-dtype structs when
        not `fresh`).
      num_clients: clients in the population.
      fresh: (re)write every row as `one` and clear the journal; otherwise
        open the existing files, which must match `one` and `num_clients`.
      journal: journal old rows from the first `write` (a checkpoint exists
        to roll back to); otherwise from the first `checkpointed`.
    """
    self.directory, self._journal = directory, journal
    self._saved: set[int] = set()  # clients journaled since the newest checkpoint
    journal_dir = os.path.join(directory, JOURNAL)
    os.makedirs(journal_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(journal_dir, '.*.tmp')):  # writes a kill cut short
      os.remove(stale)
    leaves, treedef = jax.tree.flatten(one)
    paths = [os.path.join(directory, f'leaf-{i}.npy') for i in range(len(leaves))]
    if fresh:
      self._forget(lambda entry: True)
      maps = [_filled(path, np.asarray(leaf), num_clients) for path, leaf in zip(paths, leaves)]
    else:
      maps = [_opened(path, leaf, num_clients) for path, leaf in zip(paths, leaves)]
    self.states: PyTree = jax.tree.unflatten(treedef, maps)

  def gather(self, ids: np.ndarray) -> PyTree:
    """The rows of clients `ids` (in that order), as in-memory arrays."""
    return jax.tree.map(np.asarray, gather_rows(self.states, ids))

  def write(self, rounds_done: int, ids: np.ndarray, rows: PyTree) -> None:
    """Writes the new `rows` of clients `ids` after round `rounds_done`,
    journaling first the old rows of those not journaled since the newest
    checkpoint (once a checkpoint exists)."""
    ids = np.asarray(ids)
    if self._journal:
      new = np.array([i for i in ids.tolist() if i not in self._saved], np.int64)
      old = jax.tree.leaves(self.gather(new))
      entry = io.BytesIO()
      np.savez(entry, ids=new, **{f'leaf_{i}': a for i, a in enumerate(old)})
      try:
        runlog.write_atomic(self._entry(rounds_done), entry.getvalue())
      except OSError as e:
        raise DataError(f'cannot write the client-state journal entry '
                        f'{self._entry(rounds_done)!r} ({e.strerror})') from None
      self._saved.update(new.tolist())
    scatter_rows(self.states, ids, rows)

  def checkpointed(self, oldest_kept: int) -> None:
    """After a checkpoint is saved (its rows `flush`ed first): journals from
    now on, deletes the entries no kept checkpoint can need (rounds up to
    `oldest_kept`), and starts a new interval of journaled clients."""
    self._journal, self._saved = True, set()
    self._forget(lambda entry: entry <= oldest_kept)

  def flush(self) -> None:
    """Writes the mapped pages to the files."""
    for leaf in jax.tree.leaves(self.states):
      leaf.flush()

  def rollback(self, rounds_done: int) -> None:
    """Returns every row to its value after round `rounds_done` by undoing
    the journal entries of later rounds, newest first, then deletes them,
    newest first."""
    later = [entry for entry in self._entries() if entry > rounds_done]
    if later != list(range(rounds_done + 1, rounds_done + 1 + len(later))):
      raise DataError(f'the client-state journal {os.path.join(self.directory, JOURNAL)!r} '
                      f'lacks entries between round {rounds_done} and {later[-1]} (it holds '
                      f'{later}), so the population cannot be rolled back to round '
                      f'{rounds_done}; start the run in a new --workdir')
    leaves = jax.tree.leaves(self.states)
    for entry in reversed(later):
      try:
        with np.load(self._entry(entry)) as saved:
          for i, leaf in enumerate(leaves):
            leaf[saved['ids']] = saved[f'leaf_{i}']
      except (OSError, EOFError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as e:
        raise DataError(f'the client-state journal entry {self._entry(entry)!r} cannot be '
                        f'read ({type(e).__name__}: {e}), so the population cannot be '
                        f'rolled back to round {rounds_done}; start the run in a new '
                        '--workdir') from None
    self.flush()
    self._forget(lambda entry: entry > rounds_done)

  def close(self, remove: bool = False) -> None:
    """Flushes the files, or with `remove` deletes the store."""
    if remove:
      shutil.rmtree(self.directory, ignore_errors=True)
    else:
      self.flush()

  def _forget(self, which: Callable[[int], bool]) -> None:
    """Deletes the journal entries `which` selects, newest first."""
    for entry in reversed(self._entries()):
      if which(entry):
        os.remove(self._entry(entry))

  def _entry(self, rounds_done: int) -> str:
    return os.path.join(self.directory, JOURNAL, f'{rounds_done:09d}.npz')

  def _entries(self) -> list[int]:
    names = os.listdir(os.path.join(self.directory, JOURNAL))
    return sorted(int(name[:-4]) for name in names if ENTRY.fullmatch(name))


def open_population(directory: str | None, one: PyTree, num_clients: int,
                    resumed_after: int | None) -> ClientStateStore:
  """The store of a run: in `directory` (a run directory's), or without one
  in a new temporary directory (no checkpoints, so no journal; the caller
  removes it with `close(remove=True)`). `resumed_after`: the round of the
  checkpoint the run resumes from, to which the store is rolled back; None:
  a new run, every row `one`."""
  temporary = not directory
  directory = tempfile.mkdtemp(prefix='fedjax_sim_population_') if temporary else directory
  try:
    store = ClientStateStore(directory, one, num_clients, fresh=resumed_after is None,
                             journal=resumed_after is not None)
    if resumed_after is not None:
      store.rollback(resumed_after)
  except BaseException:
    if temporary:  # a Ctrl-C while a large store is filled leaves nothing behind
      shutil.rmtree(directory, ignore_errors=True)
    raise
  return store


def _filled(path: str, one: np.ndarray, num_clients: int) -> np.memmap:
  """A new `[num_clients, ...]` file whose every row is `one`, its disk
  space reserved (a full disk is one error now, not a SIGBUS mid-run); a new
  file reads as zeros, other values are written `FILL_ROWS` rows at a time."""
  leaf = np.lib.format.open_memmap(path, mode='w+', dtype=one.dtype,
                                   shape=(num_clients,) + one.shape)
  with open(path, 'r+b') as f:
    try:
      os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
    except OSError as e:
      raise ConfigError(f'cannot reserve {os.path.getsize(path) / 2**30:.2f} GiB for the '
                        f'client-state store {path!r} ({e.strerror}); free disk space or '
                        'use another --workdir') from None
  if one.tobytes() != bytes(one.nbytes):  # not all zero bits (-0.0 is not zero here)
    for start in range(0, num_clients, FILL_ROWS):
      leaf[start:start + FILL_ROWS] = one
  leaf.flush()
  return leaf


def _opened(path: str, like: Any, num_clients: int) -> np.memmap:
  """The existing file at `path`, checked against `like`, `num_clients` and
  its own header's size (a file cut short would be extended with zeros)."""
  want = ((num_clients,) + tuple(np.shape(like)), np.dtype(like.dtype))
  try:
    with open(path, 'rb') as f:
      version = np.lib.format.read_magic(f)
      if version not in HEADER_READERS:
        raise ValueError(f'.npy format version {version}')
      shape, _, dtype = HEADER_READERS[version](f)
      size = f.tell() + math.prod(shape) * dtype.itemsize
    if os.path.getsize(path) != size:
      raise ValueError(f'{os.path.getsize(path)} bytes where its header needs {size}')
    leaf = np.load(path, mmap_mode='r+')
  except (OSError, EOFError, ValueError) as e:
    raise ConfigError(f'the client-state store {path!r} cannot be opened ({e}); '
                      'start the run in a new --workdir') from None
  if (leaf.shape, leaf.dtype) != want:
    raise ConfigError(f'the client-state store {path!r} holds {leaf.dtype}{list(leaf.shape)}, '
                      f'not the {want[1]}{list(want[0])} this run keeps; start the run in '
                      'a new --workdir')
  return leaf
