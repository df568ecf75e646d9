"""The sweep loop: a group of members trains as one program per round, with
a leading member axis (`fedjax_sim.config.sweep_program` builds it); each
member is evaluated and recorded as the run it stands for.

A member whose update or server state turns non-finite (under
`on_nonfinite='stop'`), whose test loss is not finite, or whose loss blew up
under `divergence.action='stop'`, is frozen: it keeps its last good state,
is no longer evaluated or recorded, and the others go on. The frozen rounds
are part of the checkpointed state, so a resume is bit-identical.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from fedjax_sim.core.round import RoundState
from fedjax_sim.errors import DivergedError, Interrupted
from fedjax_sim.run.divergence import LossWatch, Saved
from fedjax_sim.run.evaluation import round_evals
from fedjax_sim.run.experiment import Experiment
from fedjax_sim.run.stop_signals import StopSignals
from fedjax_sim.distributed import any_process

PyTree = Any
Say = Callable[[str], None]


class SweepGroup(NamedTuple):
  """Members that share one program.

  Attributes:
    exp: the first member's parts (data, model, evaluation, settings).
    experiments: each member's parts (its seed, reporters, divergence rule).
    indices: the members' indices in the sweep.
    init: `() -> RoundState` of every member, stacked.
    step: `(state, active [M] bool, round_index) -> (state, metrics, ids, ok)`,
      `ok[m]` False where member m's round was not finite (its state kept).
    memory: bytes of the compiled round program (XLA's memory analysis).
    sums: `state -> (test_sums, client_sums)` of every member, stacked
      (`fedjax_sim.evaluation.metrics.member_sums`).
  """

  exp: Experiment
  experiments: tuple[Experiment, ...]
  indices: tuple[int, ...]
  init: Callable[[], RoundState]
  step: Callable[[RoundState, np.ndarray, int], tuple]
  memory: int
  sums: Callable[[RoundState], tuple]


class Frozen(NamedTuple):
  member: int
  round: int
  reason: str


def member_slice(tree: PyTree, m: int) -> PyTree:
  return jax.tree.map(lambda a: a[m], tree)


def run_group(group: SweepGroup, record, say: Say, warn: Say
              ) -> tuple[list[list[dict]], np.ndarray]:
  """Runs the group's rounds; returns each member's evaluations (of the rounds
  run now) and the round each was frozen at (0: never). `record` is a
  `fedjax_sim.rundir.sweep_record` group record."""
  s = group.exp.settings
  size = len(group.indices)
  fresh = {'state': group.init(), 'frozen_at': np.zeros(size, np.int32)}
  first_round, restored = record.restore(fresh)
  tree = restored or fresh
  state, frozen_at = tree['state'], np.array(tree['frozen_at'])
  if first_round >= s.rounds:
    say(f'sweep members {_names(group.indices)} are complete: {first_round} of '
        f'{s.rounds} rounds done')
    return [[] for _ in group.indices], frozen_at
  watches = [LossWatch(e.settings.divergence, e.dataset.num_classes, _prefixed(warn, i))
             for e, i in zip(group.experiments, group.indices)]
  histories: list[list[dict]] = [[] for _ in group.indices]
  with StopSignals() as stop:
    if first_round:
      say(f'resumed sweep members {_names(group.indices)} after round {first_round}')
    start = time.perf_counter()
    try:
      for r in range(first_round, s.rounds):
        active = frozen_at == 0
        state, metrics, ids, ok = group.step(state, active, r)
        metrics, ids, ok = jax.device_get((metrics, ids, ok))
        for m in np.flatnonzero(active & ~ok):
          _freeze(frozen_at, m, r + 1, 'a client update or the server state is not finite',
                  group, record, warn)
        due_eval = (r + 1) % s.eval_every == 0 or r + 1 == s.rounds
        pace = (r + 1 - first_round) / (time.perf_counter() - start)
        host = jax.device_get((state, group.sums(state))) if due_eval else None
        for m in np.flatnonzero(frozen_at == 0):
          record.round(m, r + 1, member_slice(metrics, m), ids[m])
          if due_eval:
            _evaluate(group, m, member_slice(host, m), r, member_slice(metrics, m), pace,
                      record, watches, histories, frozen_at, warn)
        if due_eval:
          say(_progress(r + 1, s.rounds, histories, group.indices, frozen_at, pace))
        stopping = any_process(stop.requested)
        every = s.checkpoint_every
        if (every and (r + 1) % every == 0) or r + 1 == s.rounds or stopping:
          record.checkpoint(r + 1, {'state': state, 'frozen_at': frozen_at})
        if stopping and r + 1 < s.rounds:
          raise Interrupted(r + 1, record.workdir)
    finally:
      record.close()
  return histories, frozen_at


def _evaluate(group: SweepGroup, m: int, state_and_sums: tuple, r: int, metrics: dict,
              pace: float, record, watches: list[LossWatch], histories: list[list[dict]],
              frozen_at: np.ndarray, warn: Say) -> None:
  """Member m's evaluation after round r (0-based) from its state and
  evaluation sums (host values), recorded; a non-finite or blown-up test
  loss freezes it."""
  exp = group.experiments[m]
  state, sums = state_and_sums
  try:
    evals, clients = round_evals(exp, state, r, metrics, lambda: pace, {},
                                 Saved(None, None).describe(), lambda: state.clients, sums)
    watches[m].see(r + 1, evals['test_loss'], Saved(None, None))
  except DivergedError as e:
    _freeze(frozen_at, m, r + 1, str(e).split(';')[0], group, record, warn)
    return
  histories[m].append(evals)
  record.evals(m, evals, clients)


def _freeze(frozen_at: np.ndarray, m: int, round_number: int, reason: str,
            group: SweepGroup, record, warn: Say) -> None:
  frozen_at[m] = round_number
  record.frozen(m, round_number, reason)
  warn(f'warning: sweep member {group.indices[m]} frozen at round {round_number}: {reason}; '
       'the other members go on')


def _prefixed(warn: Say, index: int) -> Say:
  return lambda line: warn(line.replace('warning: ', f'warning: sweep member {index}: ', 1))


def _names(indices: tuple[int, ...]) -> str:
  return f'{indices[0]}-{indices[-1]}' if len(indices) > 1 else str(indices[0])


def _progress(round_number: int, rounds: int, histories: list[list[dict]],
              indices: tuple[int, ...], frozen_at: np.ndarray, pace: float) -> str:
  """One line per evaluation of the group: the best member's accuracy now."""
  latest = [(h[-1]['test_accuracy'], index) for h, index in zip(histories, indices)
            if h and h[-1]['round'] == round_number]
  frozen = int(np.sum(frozen_at > 0))
  line = f'round {round_number:5d} of {rounds}  members live {len(indices) - frozen}'
  line += f', frozen {frozen}' if frozen else ''
  if latest:
    accuracy, index = max(latest)
    line += f'  best test_accuracy {accuracy:.4f} (member {index})'
  return line + f'  rounds/s {pace:.1f}'
