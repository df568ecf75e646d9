"""Stopping on non-finite values: what the round flags, read once per round;
rounds in which no client reported; test losses that blew up."""

from __future__ import annotations

import math
import os
from typing import Callable, NamedTuple

import jax
import numpy as np

from fedjax_sim.rundir import runlog
from fedjax_sim.core.rules import Rule, check, is_number
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
                 saved: Saved) -> tuple[int, bool]:
  """The number of sampled clients whose update was not finite (dropped by
  the round under `action='drop'`), and whether any client reported (the
  round's total weight is > 0); raises DivergedError under 'stop', or when
  the server state itself is not finite. One small host read per round."""
  bad, server_ok, weight = jax.device_get(
      (metrics['nonfinite_clients'], metrics['server_finite'], metrics['total_weight']))
  bad, server_ok = int(bad), int(server_ok)
  if (bad and action == 'stop') or not server_ok:
    finite = np.asarray(metrics['clients']['finite'])
    culprits = np.asarray(ids)[~finite][:5].tolist()
    what = (f'non-finite update from client(s) {culprits} ({bad} of {len(finite)} sampled)'
            if bad else 'the server state is not finite after aggregation')
    hint = ("lower the learning rates, or set on_nonfinite='drop' to drop such clients"
            if bad and action == 'stop' else 'lower the learning rates')
    raise DivergedError(f'round {round_number}: {what}; {saved.describe()}; {hint}')
  return bad, bool(weight > 0)


def recorded_drops(workdir: str) -> int:
  """The clients a run directory's rounds dropped for non-finite updates
  (logged with null norms): where a resumed run's count starts."""
  rows = runlog.read_rows(os.path.join(workdir, runlog.CLIENT_NORMS),
                         runlog.ROW_FIELDS[runlog.CLIENT_NORMS])
  return sum(norm is None for row in rows for norm in row['norms'])


class LaggedCheck:
  """`check_finite` of each round, read when the next round is queued (the
  host never waits on a round it just dispatched), or at once with `now`.
  A diverged round is still named exactly; at most one more round has run.
  `dropped` counts the dropped clients, from `dropped` before this run;
  `silent` holds the rounds no client reported in, since `take_silent`."""

  def __init__(self, action: str, dropped: int = 0):
    self.action, self.dropped = action, dropped
    self._pending: tuple | None = None
    self.checked, self.silent_total, self.dropped_before = 0, 0, dropped
    self.silent: list[int] = []

  def add(self, metrics: dict, ids: jax.Array, round_number: int, saved: Saved,
          now: bool) -> None:
    self.flush()
    self._pending = (metrics, ids, round_number, self.action, saved)
    if now:
      self.flush()

  def flush(self) -> None:
    if self._pending is not None:
      pending, self._pending = self._pending, None
      bad, reported = check_finite(*pending)
      self.dropped += bad
      self.checked += 1
      if not reported:
        self.silent.append(pending[2])
        self.silent_total += 1

  def take_silent(self) -> list[int]:
    """The rounds no client reported in since the last call."""
    silent, self.silent = self.silent, []
    return silent

  def finish(self, warn: Callable[[str], None]) -> str | None:
    """Warns of the silent rounds not yet reported; what went wrong when no
    round of this run had a report (the model is as it started), or None."""
    self.flush()
    silent = self.take_silent()
    if silent:
      warn(silent_warning(silent))
    if self.checked and self.silent_total == self.checked:
      dropped = self.dropped - self.dropped_before
      hint = (f'{dropped} client update(s) were dropped as non-finite: lower the '
              'learning rates' if dropped else
              'check dropout.probability, availability, clock.deadline')
      return (f'no client reported in any of the {self.checked} round(s) run, so the model '
              f'did not train ({hint})')
    return None


def round_ranges(rounds: list[int]) -> str:
  """'rounds 1-3, 7' (or 'round 4') for sorted round numbers."""
  spans: list[list[int]] = []
  for r in rounds:
    if spans and r == spans[-1][1] + 1:
      spans[-1][1] = r
    else:
      spans.append([r, r])
  text = ', '.join(f'{a}' if a == b else f'{a}-{b}' for a, b in spans)
  return f"round{'s' if len(rounds) > 1 else ''} {text}"


def silent_warning(rounds: list[int]) -> str:
  """The warning line for rounds in which no client reported."""
  return (f'warning: {round_ranges(rounds)}: no client reported; the model did not change '
          '(train_loss 0: there is no loss)')


ACTIONS = ('warn', 'stop')


class DivergenceSettings(NamedTuple):
  """`config.divergence`: a finite test loss that blew up (see
  `loss_blew_up`, `factor` its threshold) gives one warning line
  (`action='warn'`) or stops the run with exit 1 (`'stop'`)."""

  action: str = 'warn'
  factor: float = 100.


RULES: tuple[Rule, ...] = (
    ('action', lambda v: v in ACTIONS, f'one of {list(ACTIONS)}'),
    ('factor', lambda v: is_number(v) and v > 1, 'a number > 1'),
)


def checked_settings(settings: DivergenceSettings) -> DivergenceSettings:
  """`settings`, or a ConfigError naming the bad field."""
  check('divergence', settings, RULES)
  return settings


def loss_blew_up(loss: float, first: float, num_classes: int, factor: float) -> str | None:
  """Why a finite test loss counts as diverged, or None. The reference is a
  uniform guess over the classes (cross-entropy ln C): a loss `factor` times
  above it is far worse than knowing nothing; so is a loss that grew
  `factor`-fold since the run's first evaluation and is above ln C."""
  chance = math.log(max(num_classes, 2))
  if loss > factor * chance:
    return (f'{loss / chance:.3g}x the loss of a uniform guess over {num_classes} '
            f'classes (ln {num_classes} = {chance:.3g})')
  if loss > factor * first and loss > chance:
    return f'{loss / first:.3g}x the first evaluation\'s ({first:.4g})'
  return None


class LossWatch:
  """Watches each evaluation's test loss for `loss_blew_up`: warns once, or
  raises DivergedError under `action='stop'`."""

  def __init__(self, settings: DivergenceSettings, num_classes: int,
               warn: Callable[[str], None]):
    self.settings, self.num_classes, self.warn = settings, num_classes, warn
    self.first: float | None = None
    self.warned = False

  def see(self, round_number: int, loss: float, saved: Saved) -> None:
    if self.first is None:
      self.first = loss
    why = loss_blew_up(loss, self.first, self.num_classes, self.settings.factor)
    if why is None:
      return
    what = f'round {round_number}: test_loss {loss:.5g} is {why}; the run diverged'
    if self.settings.action == 'stop':
      raise DivergedError(f'{what}; {saved.describe()}; lower the learning rates')
    if not self.warned:
      self.warned = True
      self.warn(f"warning: {what}; lower the learning rates (divergence.action='stop' "
                'makes this an error)')
