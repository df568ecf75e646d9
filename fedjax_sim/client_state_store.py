"""Every client's persistent state on disk, with a rollback journal.

`engine.population='disk'`: SCAFFOLD's controls, error-feedback residuals or
Ditto's models for a population too large for host memory (SCAFFOLD with
the CNN at 10,000 clients: about 48 GB) live in memory-mapped `.npy` files,
one per leaf of the client state, `[num_clients, ...]`. A round reads only
the sampled clients' rows and writes their new rows back
(`fedjax_sim.core.population` for the in-memory placements), so host and
device memory hold one round's rows, whatever the population.

The files are not copied into checkpoints (that would write the whole
population each time). Instead, before a round overwrites rows, their old
values are saved to `journal/<rounds done>.npz` (atomically: a kill leaves
either the whole entry or none). Resuming from the checkpoint after round R
undoes the entries of the rounds after R, newest first, which returns every
row to its value after round R: a kill at any moment resumes bit-identically.
Entries older than every kept checkpoint are dropped (`forget_through`).

Layout of a store directory: `leaf-<i>.npy` (the i-th leaf of the client
state, in `jax.tree.leaves` order) and `journal/`.
"""

from __future__ import annotations

import glob
import io
import os
import shutil
import tempfile
import zipfile
from typing import Any

import jax
import numpy as np

from fedjax_sim import runlog
from fedjax_sim.core.population import gather_rows, scatter_rows
from fedjax_sim.errors import ConfigError, DataError

PyTree = Any
JOURNAL = 'journal'
# Rows written at a time while filling a new store from the initial state.
FILL_ROWS = 4096


class ClientStateStore:
  """A population's client states in memory-mapped files (module docstring).

  Attributes:
    directory: where the files are.
    states: the client-state pytree, leaves `np.memmap` `[num_clients, ...]`.
  """

  def __init__(self, directory: str, one: PyTree, num_clients: int, fresh: bool,
               journal: bool = True):
    """Opens the store in `directory` for client states shaped like `one`.

    Args:
      directory: the store's directory (created if missing).
      one: one client's initial state (arrays or shape-dtype structs when
        not `fresh`).
      num_clients: clients in the population.
      fresh: (re)write every row as `one` and clear the journal; otherwise
        open the existing files, which must match `one` and `num_clients`.
      journal: record old rows before each write (`write`), so a resumed
        run can `rollback`; off for a run with no checkpoints.
    """
    self.directory, self._journal = directory, journal
    os.makedirs(os.path.join(directory, JOURNAL), exist_ok=True)
    leaves, treedef = jax.tree.flatten(one)
    paths = [os.path.join(directory, f'leaf-{i}.npy') for i in range(len(leaves))]
    if fresh:
      self.forget_through(float('inf'))
      maps = [_filled(path, np.asarray(leaf), num_clients) for path, leaf in zip(paths, leaves)]
    else:
      maps = [_opened(path, leaf, num_clients) for path, leaf in zip(paths, leaves)]
    self.states: PyTree = jax.tree.unflatten(treedef, maps)

  def gather(self, ids: np.ndarray) -> PyTree:
    """The rows of clients `ids` (in that order), as in-memory arrays."""
    return jax.tree.map(np.asarray, gather_rows(self.states, ids))

  def write(self, rounds_done: int, ids: np.ndarray, rows: PyTree) -> None:
    """Writes the new `rows` of clients `ids` after round `rounds_done`,
    journaling their old values first (with `journal`)."""
    ids = np.asarray(ids)
    if self._journal:
      old = jax.tree.leaves(self.gather(ids))
      entry = io.BytesIO()
      np.savez(entry, ids=ids, **{f'leaf_{i}': a for i, a in enumerate(old)})
      runlog.write_atomic(self._entry(rounds_done), entry.getvalue())
    scatter_rows(self.states, ids, rows)

  def flush(self) -> None:
    """Writes the mapped pages to the files."""
    for leaf in jax.tree.leaves(self.states):
      leaf.flush()

  def rollback(self, rounds_done: int) -> None:
    """Returns every row to its value after round `rounds_done` by undoing
    the journal entries of later rounds, newest first, then drops them."""
    leaves = jax.tree.leaves(self.states)
    for entry in sorted(self._entries(), reverse=True):
      if entry <= rounds_done:
        break
      try:
        with np.load(self._entry(entry)) as saved:
          for i, leaf in enumerate(leaves):
            leaf[saved['ids']] = saved[f'leaf_{i}']
      except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f'the client-state journal entry {self._entry(entry)!r} cannot be '
                        f'read ({type(e).__name__}: {e}), so the population cannot be '
                        f'rolled back to round {rounds_done}; start the run in a new '
                        '--workdir') from None
    self.flush()
    for entry in self._entries():
      if entry > rounds_done:
        os.remove(self._entry(entry))

  def forget_through(self, rounds_done: float) -> None:
    """Drops the journal entries of rounds up to `rounds_done` (no kept
    checkpoint is older, so no resume can need them)."""
    for entry in self._entries():
      if entry <= rounds_done:
        os.remove(self._entry(entry))

  def close(self, remove: bool = False) -> None:
    """Flushes the files, or with `remove` deletes the store."""
    if remove:
      shutil.rmtree(self.directory, ignore_errors=True)
    else:
      self.flush()

  def _entry(self, rounds_done: int) -> str:
    return os.path.join(self.directory, JOURNAL, f'{rounds_done:09d}.npz')

  def _entries(self) -> list[int]:
    names = glob.glob(os.path.join(self.directory, JOURNAL, '*.npz'))
    return sorted(int(os.path.basename(name)[:-4]) for name in names)


def open_population(directory: str | None, one: PyTree, num_clients: int,
                    resumed_after: int | None) -> ClientStateStore:
  """The store of a run: in `directory` (a run directory's, journaled), or
  without one in a new temporary directory (no checkpoints, no journal; the
  caller removes it with `close(remove=True)`). `resumed_after`: the round of
  the checkpoint the run resumes from, to which the store is rolled back;
  None: a new run, every row `one`."""
  journal = directory is not None
  directory = directory or tempfile.mkdtemp(prefix='fedjax_sim_population_')
  store = ClientStateStore(directory, one, num_clients, fresh=resumed_after is None,
                           journal=journal)
  if resumed_after is not None:
    store.rollback(resumed_after)
  return store


def _filled(path: str, one: np.ndarray, num_clients: int) -> np.memmap:
  """A new `[num_clients, ...]` file whose every row is `one` (a new file is
  zeros already; other values are written `FILL_ROWS` rows at a time)."""
  leaf = np.lib.format.open_memmap(path, mode='w+', dtype=one.dtype,
                                   shape=(num_clients,) + one.shape)
  if np.any(one):
    for start in range(0, num_clients, FILL_ROWS):
      leaf[start:start + FILL_ROWS] = one
  leaf.flush()
  return leaf


def _opened(path: str, like: Any, num_clients: int) -> np.memmap:
  """The existing file at `path`, checked against `like` and `num_clients`."""
  want = ((num_clients,) + tuple(np.shape(like)), np.dtype(like.dtype))
  try:
    leaf = np.load(path, mmap_mode='r+')
  except (OSError, ValueError) as e:
    raise ConfigError(f'the client-state store {path!r} cannot be opened ({e}); '
                      'start the run in a new --workdir') from None
  if (leaf.shape, leaf.dtype) != want:
    raise ConfigError(f'the client-state store {path!r} holds {leaf.dtype}{list(leaf.shape)}, '
                      f'not the {want[1]}{list(want[0])} this run keeps; start the run in '
                      'a new --workdir')
  return leaf
