"""Stopping on non-finite values: what the round flags, read once per round."""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import numpy as np

from fedjax_sim.rundir import runlog
from fedjax_sim.errors import DivergedError
from fedjax_sim.rundir.workdir import CHECKPOINTS


class Saved(NamedTuple):
  """The newest checkpoint this run can go back to."""

  rounds_done: int | None
  workdir: str | None

  def describe(self) -> str:
    if self.workdir is None:
      return 'no checkpoint (run without --workdir)'
    if self.rounds_done is None:
      return f'no checkpoint in {self.workdir} yet'
    return (f'last good checkpoint: round {self.rounds_done} in '
            f'{os.path.join(self.workdir, CHECKPOINTS, str(self.rounds_done))}')


def check_finite(metrics: dict, ids: jax.Array, round_number: int, action: str,
                 saved: Saved) -> int:
  """The number of sampled clients whose update was not finite (dropped by
  the round under `action='drop'`); raises DivergedError under 'stop', or
  when the server state itself is not finite. One small host read per round."""
  bad, server_ok = (int(v) for v in jax.device_get(
      (metrics['nonfinite_clients'], metrics['server_finite'])))
  if (bad and action == 'stop') or not server_ok:
    finite = np.asarray(metrics['clients']['finite'])
    culprits = np.asarray(ids)[~finite][:5].tolist()
    what = (f'non-finite update from client(s) {culprits} ({bad} of {len(finite)} sampled)'
            if bad else 'the server state is not finite after aggregation')
    hint = ("lower the learning rates, or set on_nonfinite='drop' to drop such clients"
            if bad and action == 'stop' else 'lower the learning rates')
    raise DivergedError(f'round {round_number}: {what}; {saved.describe()}; {hint}')
  return bad


def recorded_drops(workdir: str) -> int:
  """The clients a run directory's rounds dropped for non-finite updates
  (logged with null norms): where a resumed run's count starts."""
  rows = runlog.read_jsonl(os.path.join(workdir, runlog.CLIENT_NORMS))
  return sum(norm is None for row in rows for norm in row['norms'])


class LaggedCheck:
  """`check_finite` of each round, read when the next round is queued (the
  host never waits on a round it just dispatched), or at once with `now`.
  A diverged round is still named exactly; at most one more round has run.
  `dropped` counts the dropped clients, from `dropped` before this run."""

  def __init__(self, action: str, dropped: int = 0):
    self.action, self.dropped = action, dropped
    self._pending: tuple | None = None

  def add(self, metrics: dict, ids: jax.Array, round_number: int, saved: Saved,
          now: bool) -> None:
    self.flush()
    self._pending = (metrics, ids, round_number, self.action, saved)
    if now:
      self.flush()

  def flush(self) -> None:
    if self._pending is not None:
      pending, self._pending = self._pending, None
      self.dropped += check_finite(*pending)
