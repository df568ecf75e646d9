"""Graceful stop: SIGINT / SIGTERM end a run at the next round boundary."""

from __future__ import annotations

import signal
import threading


class StopSignals:
  """Within `with`: the first SIGINT / SIGTERM sets `requested` (the run stops
  at the end of its round); a second one raises KeyboardInterrupt. Off the
  main thread nothing is installed."""

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.requested = False
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.requested:
      raise KeyboardInterrupt(signal.Signals(signum).name)
    self.requested = True

  def __enter__(self) -> 'StopSignals':
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
