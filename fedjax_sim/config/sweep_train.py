"""`fedjax_sim.sweep(config)`: every member of `config.sweep`, one program
per group of members (`fedjax_sim.config.sweep`), the groups one after another."""

from __future__ import annotations

import contextlib
import os
from typing import Callable

import ml_collections

from fedjax_sim.cli import to_stderr
from fedjax_sim.config import sweep as sweep_lib
from fedjax_sim.config.sections import as_json
from fedjax_sim.config.sweep_program import build_groups
from fedjax_sim.config.train import PROGRESS
from fedjax_sim.distributed import is_primary
from fedjax_sim.errors import ConfigError, DivergedError
from fedjax_sim.rundir import runlog, sweep_record
from fedjax_sim.rundir import workdir as workdir_lib
from fedjax_sim.run.record import lock_workdir
from fedjax_sim.rundir.sweep_report import write_sweep_report
from fedjax_sim.rundir.sweep_table import MemberResult, cells, format_cells
from fedjax_sim.run.sweep_loop import SweepGroup, run_group

Log = Callable[[str], None]


def describe_groups(groups: list[sweep_lib.Group]) -> str:
  """The members and how they are grouped, one line per group, and why a
  swept `seed` is not traced when it is not."""
  total = sum(len(g.members) for g in groups)
  lines = [f'sweep: {total} members in {len(groups)} group(s), one program per group']
  for g, group in enumerate(groups):
    traced = ', '.join(group.traced) or 'nothing'
    shared = {k: v for k, v in group.members[0].values.items() if k not in group.traced}
    lines.append(f'  group {g}: {len(group.members)} members '
                 f'({_indices([m.index for m in group.members])}), traced: {traced}'
                 + (f'; {sweep_lib.describe_values(shared)}' if shared else ''))
  if len(groups) > 1 and any('seed' in g.members[0].values and 'seed' not in g.traced
                             for g in groups):
    lines.append('  (seed is not traced: each seed draws its own data; set data.seed to keep '
                 'the data fixed and run the seeds in one program)')
  return '\n'.join(lines)


def _indices(indices: list[int]) -> str:
  """`0..35` for a contiguous run, else `0, 2, 4` (at most 8 named)."""
  if indices == list(range(indices[0], indices[-1] + 1)):
    return f'{indices[0]}..{indices[-1]}' if len(indices) > 1 else str(indices[0])
  named = ', '.join(map(str, indices[:8]))
  return named + (f', ... ({len(indices)})' if len(indices) > 8 else '')


def describe_members(members: list[sweep_lib.Member]) -> str:
  """One line per member: its index and swept values."""
  return '\n'.join(f'  member {m.index}: {sweep_lib.describe(m)}' for m in members)


def member_table(config: ml_collections.ConfigDict, members: list[sweep_lib.Member],
                 programs: list[tuple[sweep_lib.Group, SweepGroup]]) -> dict:
  """`sweep.json`: the axes, each program's members, traced fields and memory,
  and every member's values, program and directory."""
  program_of = {i: p for p, (_, program) in enumerate(programs) for i in program.indices}
  return {'mode': config.sweep.get('mode', 'product'),
          'axes': {k: list(v) for k, v in sweep_lib.axes(config).items()},
          'programs': [{'members': list(program.indices), 'traced': list(group.traced),
                        'memory_bytes': program.memory} for group, program in programs],
          'members': [{'index': m.index, 'values': m.values, 'program': program_of[m.index],
                       'dir': os.path.relpath(sweep_record.member_dir('.', m.index))}
                      for m in members]}


def sweep(config: ml_collections.ConfigDict, log: Log = print, workdir: str | None = None,
          resume: bool = False, progress: str = 'lines') -> list[list[dict[str, float]]]:
  """Trains every member of `config.sweep` (see `fedjax_sim.config.sweep`);
  returns each member's evaluations (of the rounds run now), by index.

  With `workdir`, the sweep writes its config, member table, one run
  directory per member, checkpoints and results there, and `resume`
  continues it bit-identically (or extends it by more `rounds`). `log`
  receives the grouping, one progress line per evaluation and group, and the
  results table; `progress='none'` is quiet."""
  if progress not in PROGRESS:
    raise ConfigError(f'--progress must be one of {list(PROGRESS)}, got {progress!r}')
  say = log if progress != 'none' and is_primary() else (lambda line: None)
  members = sweep_lib.members(config)
  groups = sweep_lib.groups(config, members)
  say(describe_groups(groups))
  with contextlib.ExitStack() as stack:
    if workdir:  # one writer: locked as a run's directory is (`run.record.lock_workdir`)
      workdir_lib.check(workdir, as_json(config), resume)
      held = lock_workdir(workdir)
      if held is not None:
        stack.callback(held.close)
    programs = [(group, program) for group in groups for program in build_groups(
        group, say, to_stderr, sweep_lib.max_members(config))]
    has_run = workdir is not None and sweep_record.open_sweep(
        workdir, as_json(config), member_table(config, members, programs), resume)
    histories, frozen = _run_programs(programs, members, workdir, has_run, say)
  results = [MemberResult(m.index, m.values, _last(workdir, m.index, histories[m.index]),
                          frozen[m.index]) for m in members]
  say(format_cells(cells(results)))
  if workdir:
    sweep_record.write_results(workdir, [r._asdict() for r in results])
    write_sweep_report(workdir)
  if all(r.frozen_at for r in results):
    raise DivergedError(f'every member of the sweep was frozen (diverged); the first at '
                        f'round {min(r.frozen_at for r in results)}; lower the learning rates')
  return histories


def _run_programs(programs: list[tuple[sweep_lib.Group, SweepGroup]],
                  members: list[sweep_lib.Member], workdir: str | None, has_run: bool,
                  say: Log) -> tuple[list[list[dict]], dict[int, int]]:
  """Runs the programs one after another: each member's evaluations, and the
  round each member was frozen at (0: never)."""
  histories: list[list[dict]] = [[] for _ in members]
  frozen: dict[int, int] = {}
  for p, (_, program) in enumerate(programs):
    record = (sweep_record.GroupRecord(
        workdir, p, program.indices, [as_json(members[i].config) for i in program.indices],
        has_run, program.exp.settings.checkpoint_keep, program.exp.dataset.client_names,
        to_stderr) if workdir else sweep_record.NoGroupRecord())
    group_histories, frozen_at = run_group(program, record, say, to_stderr)
    for index, history, at in zip(program.indices, group_histories, frozen_at):
      histories[index], frozen[index] = history, int(at)
  return histories, frozen


def _last(workdir: str | None, index: int, history: list[dict]) -> dict | None:
  """A member's last evaluation: from its metrics log with a workdir (a
  resumed sweep ran only some rounds now), else from this run's history."""
  if workdir:
    rows = runlog.read_jsonl(os.path.join(sweep_record.member_dir(workdir, index),
                                          runlog.METRICS))
    return rows[-1] if rows else None
  return history[-1] if history else None
