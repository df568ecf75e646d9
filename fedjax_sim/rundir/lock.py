"""One writer at a time: an exclusive, non-blocking `flock`.

The command line locks a run's directory (`fedjax_sim.run.record.RunDirectory`;
runs the control room starts are command-line runs, so they take it too) and
the control room locks its runs directory (`<runs>/.control.lock`). The lock
belongs to the open descriptor: it goes when `Held.close()` is called or the
process ends, however it ends (a SIGKILL leaves no stale lock).
"""

from __future__ import annotations

import fcntl
import os

from fedjax_sim.errors import ConfigError


class Busy(ConfigError):
  """Another process holds the lock."""


class Held:
  """A lock held on a directory or a lock file; `close()` releases it."""

  def __init__(self, fd: int):
    self._fd: int | None = fd

  def close(self) -> None:
    """Releases the lock (idempotent)."""
    if self._fd is not None:
      os.close(self._fd)
      self._fd = None

  __del__ = close  # a lock dropped without close() goes with its object


def hold(path: str) -> Held:
  """Locks `path` exclusively without waiting: a directory (locked as it is)
  or a lock file (created if missing). Raises `Busy` when another process, or
  another open of the same path in this process, holds it."""
  mode = os.O_RDONLY if os.path.isdir(path) else os.O_RDWR | os.O_CREAT
  fd = os.open(path, mode, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    os.close(fd)
    raise Busy(f'{path} is locked by another process') from None
  return Held(fd)
