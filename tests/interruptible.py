"""Starting a child that Ctrl-C interrupts, even when this suite runs as a
shell's background job: such a job ignores SIGINT, and a child inherits an
ignored signal (a handled one is reset to its default by exec). No
`preexec_fn`, which is unsafe in a process with threads (JAX's)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def popen(args: list[str], **kwargs) -> subprocess.Popen:
  """`subprocess.Popen(args, **kwargs)` with SIGINT's default action in the child."""
  previous = signal.getsignal(signal.SIGINT)
  if previous == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    return subprocess.Popen(args, **kwargs)
  finally:
    signal.signal(signal.SIGINT, previous)


def group_ends(group: int, timeout: float = 60.) -> bool:
  """Whether process group `group` empties within `timeout` seconds (its
  members may take a moment to exit after their leader)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      os.killpg(group, 0)
    except ProcessLookupError:
      return True
    time.sleep(0.5)
  return False


def ctrl_c(proc: subprocess.Popen) -> str:
  """SIGINT to the process group `proc` leads (started with
  `start_new_session=True`), as a terminal's Ctrl-C. Asserts exit 130, no
  traceback and the group emptied; returns stderr's last line."""
  os.killpg(proc.pid, signal.SIGINT)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err[-2000:]
  assert 'Traceback' not in err, err[-2000:]
  assert group_ends(proc.pid), 'a child outlived its Ctrl-C'
  return err.strip().splitlines()[-1]
