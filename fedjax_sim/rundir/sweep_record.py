"""A sweep's directory: the sweep's config and member table, one run
directory per member, and each group's checkpoints of its whole state.

    <workdir>/config.json          the sweep's config (pins the directory)
    <workdir>/sweep.json           members: index, swept values, group, directory
    <workdir>/members/<index>/     a run directory each (config, metrics, report)
    <workdir>/checkpoints/group-<g>/<round>/   every member's state, stacked
    <workdir>/frozen.jsonl         members frozen: member, round, reason
    <workdir>/results.json         each member's last evaluation (at the end)

Each member's directory is an ordinary run directory, so `scripts/report.py`,
the comparison and TensorBoard (its config as hparams) read it as a run.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import numpy as np

from fedjax_sim.rundir import checkpoint, data_pin, report, runlog
from fedjax_sim.rundir import workdir as workdir_lib
from fedjax_sim.rundir.recorder import Recorder
from fedjax_sim.rundir.write_errors import writes_in, writing

PyTree = Any
SWEEP = 'sweep.json'
FROZEN = 'frozen.jsonl'
RESULTS = 'results.json'
MEMBERS = 'members'
ROW = {'member': int, 'round': int, 'reason': str}  # a row of FROZEN


def member_dir(workdir: str, index: int) -> str:
  return os.path.join(workdir, MEMBERS, f'{index:04d}')


class NoGroupRecord:
  """A group of a sweep without a directory."""

  workdir = None

  def restore(self, like: PyTree) -> tuple[int, PyTree | None]:
    del like
    return 0, None

  def round(self, m: int, rounds_done: int, metrics: dict, ids: np.ndarray) -> None:
    del m, rounds_done, metrics, ids

  def evals(self, m: int, evals: dict, clients: dict) -> None:
    del m, evals, clients

  def frozen(self, m: int, round_number: int, reason: str) -> None:
    del m, round_number, reason

  def checkpoint(self, rounds_done: int, tree: PyTree) -> None:
    del rounds_done, tree

  def close(self) -> None:
    pass


def open_sweep(workdir: str, config_json: dict, table: dict, resume: bool) -> bool:
  """Checks `workdir` against the sweep's config (as a run directory:
  `fedjax_sim.rundir.workdir.check`, which also checks the data files it
  pins), then writes the config, the data pins and the member table; returns
  whether a sweep is there to resume."""
  has_run = workdir_lib.check(workdir, config_json, resume)
  with writing(workdir):
    workdir_lib.write_config(workdir, config_json)
    if not has_run or not data_pin.is_recorded(workdir):
      data_pin.record(workdir, config_json)  # the data's content, checked on --resume
    runlog.write_json_atomic(os.path.join(workdir, SWEEP), table)
  return has_run


class GroupRecord:
  """The directories of one group's members and the group's checkpoints."""

  def __init__(self, workdir: str, group: int, indices: tuple[int, ...],
               member_configs: list[dict], has_run: bool, keep: int,
               client_names: tuple[str, ...] | None, warn: Callable[[str], None]):
    self.workdir, self.indices, self.warn = workdir, indices, warn
    self.has_run, self.client_names = has_run, client_names
    self.dirs = [member_dir(workdir, i) for i in indices]
    with writing(workdir):
      for directory, config in zip(self.dirs, member_configs):
        workdir_lib.write_config(directory, config)
    self.ckpt = checkpoint.manager(
        os.path.join(workdir, workdir_lib.CHECKPOINTS, f'group-{group}'), keep)
    self.first_round = 0
    self.recorders: list[Recorder | None] = [None] * len(indices)

  @writes_in('workdir')
  def restore(self, like: PyTree) -> tuple[int, PyTree | None]:
    """`(rounds_done, tree)` of the group's newest intact checkpoint; the
    members' logs and frozen rows after it are dropped (recomputed)."""
    restored = checkpoint.restore_latest(self.ckpt, like, self.warn) if self.has_run else None
    self.first_round, tree = restored or (0, None)
    path = os.path.join(self.workdir, FROZEN)
    rows = [r for r in runlog.read_rows(path, ROW)
            if r['member'] not in self.indices or r['round'] <= self.first_round]
    runlog.write_atomic(path, ''.join(json.dumps(r) + '\n' for r in rows))
    return self.first_round, tree

  def _recorder(self, m: int) -> Recorder:
    if self.recorders[m] is None:
      workdir_lib.truncate_after(self.dirs[m], self.first_round)
      self.recorders[m] = Recorder(self.dirs[m], self.first_round, self.client_names)
    return self.recorders[m]

  @writes_in('workdir')
  def round(self, m: int, rounds_done: int, metrics: dict, ids: np.ndarray) -> None:
    clients = metrics['clients']
    self._recorder(m).round(rounds_done, float(metrics['train_loss']), np.asarray(ids),
                            np.asarray(clients['update_norm']),
                            np.asarray(clients['train_loss']), {})

  @writes_in('workdir')
  def evals(self, m: int, evals: dict, clients: dict) -> None:
    recorder = self._recorder(m)
    recorder.evals(evals)
    recorder.clients(int(evals['round']), clients)

  @writes_in('workdir')
  def frozen(self, m: int, round_number: int, reason: str) -> None:
    runlog.append_jsonl(os.path.join(self.workdir, FROZEN),
                        {'member': self.indices[m], 'round': round_number, 'reason': reason})

  @writes_in('workdir')
  def checkpoint(self, rounds_done: int, tree: PyTree) -> None:
    checkpoint.save(self.ckpt, rounds_done, tree)

  @writes_in('workdir')
  def close(self) -> None:
    """Closes the members' logs and writes their reports."""
    for m, recorder in enumerate(self.recorders):
      if recorder is not None:
        recorder.close()
        report.write_report(self.dirs[m])


def write_results(workdir: str, results: list[dict]) -> None:
  runlog.write_json_atomic(os.path.join(workdir, RESULTS), results)
