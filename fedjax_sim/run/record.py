"""The run-record part of a run: its directory (config, metrics, client
records, TensorBoard, checkpoints, report; `fedjax_sim.rundir.workdir`), or nothing.

Two implementations of one interface: `RunDirectory` (with `--workdir`) and
`NoRecord`. In a multi-process run every process checks the directory and
takes part in orbax's checkpoints; process 0 alone writes the config, the
logs and the report.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import numpy as np

from fedjax_sim.rundir import checkpoint
from fedjax_sim.rundir import data_pin
from fedjax_sim.rundir import lock
from fedjax_sim.rundir import report
from fedjax_sim.rundir import workdir as workdir_lib
from fedjax_sim.rundir.write_errors import writes_in
from fedjax_sim.distributed import barrier, from_primary, is_primary
from fedjax_sim.errors import ConfigError
from fedjax_sim.run.divergence import Saved, recorded_drops
from fedjax_sim.rundir.recorder import Recorder
from fedjax_sim.run.population import Population

PyTree = Any


class NoRecord:
  """A run without a directory: nothing is written, nothing resumed."""

  population_dir = None
  saved = Saved(None, None)
  dropped_before = 0

  def restore(self, like: PyTree) -> tuple[int, PyTree | None]:
    del like
    return 0, None

  def round(self, rounds_done: int, metrics: dict, ids: np.ndarray,
            fields: Callable[[], dict[str, float]]) -> None:
    del rounds_done, metrics, ids, fields

  def evals(self, evals: dict[str, float], clients: dict[str, np.ndarray]) -> None:
    del evals, clients

  def checkpoint(self, rounds_done: int, population: Population, state: PyTree) -> None:
    del rounds_done, population, state

  def close(self) -> None:
    pass

  def release(self) -> None:
    pass


def lock_workdir(workdir: str) -> lock.Held | None:
  """Process 0 creates `workdir` and locks it for the run (the other processes
  of a multi-process run share it); on every process, a ConfigError when
  another process is running it already."""
  held, busy = None, False
  if is_primary() and not os.path.isfile(workdir):  # a file: refused by the check
    workdir_lib.make_writable_dir(workdir)
    try:
      held = lock.hold(workdir)
    except lock.Busy:
      busy = True
  if from_primary(int(busy)):
    raise ConfigError(f'--workdir {workdir!r} is in use: another process is running this run '
                      '(a training script or the control room); wait for it to end or stop '
                      'it, then try again')
  return held


class RunDirectory:
  """A run's directory (`fedjax_sim.rundir.workdir`): checked against the config
  before anything runs, locked while it runs (one writer), resumed from its
  newest intact checkpoint. A file that cannot be written is one RunFileError
  (`fedjax_sim.rundir.write_errors`)."""

  def __init__(self, workdir: str, config_json: dict[str, Any], resume: bool, keep: int,
               client_names: tuple[str, ...] | None, warn: Callable[[str], None]):
    self.workdir, self.client_names, self.warn = workdir, client_names, warn
    workdir_lib.check(workdir, config_json, resume)  # before anything is created
    self._lock = lock_workdir(workdir)
    try:
      self.has_run = workdir_lib.check(workdir, config_json, resume)  # again, now alone
      self._start(config_json, keep)
    except BaseException:
      self.release()
      raise

  @writes_in('workdir')
  def _start(self, config_json: dict[str, Any], keep: int) -> None:
    """Writes the config and pins the data files (process 0), and opens the
    checkpoints."""
    workdir = self.workdir
    barrier('workdir checked')  # before process 0 writes its config
    if is_primary():
      workdir_lib.write_config(workdir, config_json)
      if not self.has_run or not data_pin.is_recorded(workdir):
        data_pin.record(workdir, config_json)  # the data's content, checked on --resume
    barrier('workdir written')
    self.ckpt = checkpoint.manager(os.path.join(workdir, workdir_lib.CHECKPOINTS), keep)
    self.saved, self.dropped_before, self.first_round = Saved(None, workdir), 0, 0
    self._recorder: Recorder | None = None
    population = os.path.join(workdir, workdir_lib.POPULATION)
    self.population_dir = (population if jax.process_count() == 1
                           else os.path.join(population, f"process-{jax.process_index()}"))

  @writes_in('workdir')  # a corrupt checkpoint is moved aside
  def restore(self, like: PyTree) -> tuple[int, PyTree | None]:
    """`(rounds_done, state)` of the newest intact checkpoint (0, None: none);
    a run to resume without any checkpoint is said to start again."""
    if self.has_run and not self.ckpt.all_steps() and is_primary():
      self.warn(f'warning: --resume: no checkpoint in {self.ckpt.directory} (deleted, or the '
                'run stopped before its first one); the run starts again from round 0')
    restored = checkpoint.restore_latest(self.ckpt, like, self.warn) if self.has_run else None
    self.first_round, state = restored or (0, None)
    self.saved = self.saved._replace(rounds_done=self.first_round or None)
    if self.first_round:
      self.dropped_before = recorded_drops(self.workdir)
    return self.first_round, state

  @property
  def recorder(self) -> Recorder | None:
    """Process 0's log writer, opened at the first round this process runs;
    the logs after the restored checkpoint are dropped then (recomputed)."""
    if self._recorder is None and is_primary():
      workdir_lib.truncate_after(self.workdir, self.first_round)
      self._recorder = Recorder(self.workdir, self.first_round, self.client_names)
    return self._recorder

  @writes_in('workdir')
  def round(self, rounds_done: int, metrics: dict, ids: np.ndarray,
            fields: Callable[[], dict[str, float]]) -> None:
    """The round's loss, its sampled clients' ids, update norms and losses,
    and the schedule's `fields()` (virtual time, ...)."""
    if self.recorder:
      clients = metrics['clients']
      self.recorder.round(rounds_done, float(metrics['train_loss']), np.asarray(ids),
                          np.asarray(clients['update_norm']), np.asarray(clients['train_loss']),
                          fields())

  @writes_in('workdir')
  def evals(self, evals: dict[str, float], clients: dict[str, np.ndarray]) -> None:
    if self.recorder:
      self.recorder.evals(evals)
      self.recorder.clients(int(evals['round']), clients)

  @writes_in('workdir')
  def checkpoint(self, rounds_done: int, population: Population, state: PyTree) -> None:
    """Saves what `population` checkpoints of `state` after `rounds_done` rounds."""
    checkpoint.save(self.ckpt, rounds_done, population.checkpoint(state))
    population.committed(min(self.ckpt.all_steps()))
    self.saved = self.saved._replace(rounds_done=rounds_done)

  @writes_in('workdir')
  def close(self) -> None:
    """Closes the logs and writes the report (process 0, if it ran a round)."""
    if self._recorder:
      self._recorder.close()
      report.write_report(self.workdir)

  def release(self) -> None:
    """Releases the workdir's lock (at the end of the run, however it ends)."""
    if self._lock is not None:
      self._lock.close()
