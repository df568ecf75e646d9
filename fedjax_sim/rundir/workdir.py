"""A run's working directory: config, metrics, TensorBoard, checkpoints, report.

`<workdir>/config.json` pins the experiment: a workdir holding a different
config, or run files without a config, is refused, and a workdir holding a
run is only continued with `resume=True` (which may extend it by more
rounds), so nothing is ever overwritten by mistake. On resume the rows
logged after the restored checkpoint are dropped (they are recomputed).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from fedjax_sim.rundir import data_pin
from fedjax_sim.rundir import runlog
from fedjax_sim.errors import ConfigError, DataError

CHECKPOINTS = 'checkpoints'
TENSORBOARD = 'tensorboard'
POPULATION = 'population'  # engine.population='disk': the client states


def _differences(old: Any, new: Any, prefix: str = '') -> list[str]:
  """Dotted names of the fields where two JSON configs differ."""
  if isinstance(old, dict) and isinstance(new, dict):
    return [d for k in sorted(set(old) | set(new))
            for d in _differences(old.get(k), new.get(k), f'{prefix}{k}.')]
  return [] if old == new else [prefix.rstrip('.')]


RUN_FILES = (runlog.METRICS, runlog.CLIENT_NORMS, runlog.CLIENTS, CHECKPOINTS, TENSORBOARD,
             POPULATION, 'report.html')


def check(workdir: str, wanted: dict[str, Any], resume: bool) -> bool:
  """Checks `workdir` against the config `wanted` (as JSON data,
  `fedjax_sim.config.sections.as_json`), without writing anything.
  Returns whether a previous run of this experiment is there to resume. With
  `resume`, the saved run may differ from `config` in `rounds` only (a run
  extended by more rounds). Raises ConfigError for: a workdir of another
  experiment; run files with no `config.json` (an unknown experiment); a
  workdir holding this run without `resume`; `resume` with no run.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'--workdir {workdir!r} exists and is not a directory')
  try:
    saved = runlog.read_json(os.path.join(workdir, runlog.CONFIG))
  except DataError as e:
    raise ConfigError(f'--workdir {workdir!r}: {e}') from None
  except OSError as e:
    raise ConfigError(f'--workdir {workdir!r}: cannot read {runlog.CONFIG} '
                      f'({e.strerror}); use another --workdir') from None
  if saved is None:
    _check_no_run_files(workdir, resume)
    return False
  _check_config_file(workdir, saved, wanted)
  _check_same_experiment(workdir, saved, wanted, resume)
  data_pin.check(workdir, wanted)  # the same files, with the same content
  try:  # the logs a resume reads and rewrites
    for name, fields in runlog.ROW_FIELDS.items():
      runlog.read_rows(os.path.join(workdir, name), fields)
  except DataError as e:
    raise ConfigError(f'--workdir {workdir!r}: {e}') from None
  return True


def type_problem(saved: Any, wanted: Any, prefix: str = '') -> str | None:
  """The first field where a saved config holds another kind of value than
  this run's (a string for a number, ...), or None. Integers and numbers mix."""
  if isinstance(saved, dict) and isinstance(wanted, dict):
    return next((problem for k in sorted(set(saved) & set(wanted))
                 if (problem := type_problem(saved[k], wanted[k], f'{prefix}{k}.'))), None)
  numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in (saved, wanted))
  if saved is None or wanted is None or numbers or type(saved) is type(wanted):
    return None
  return (f'{prefix.rstrip(".")} is {saved!r} ({runlog.kind(saved)}), expected '
          f'{runlog.kind(wanted)} like {wanted!r}')


def _check_config_file(workdir: str, saved: Any, wanted: dict[str, Any]) -> None:
  """A ConfigError naming `config.json` when it is not an object, or a field
  holds another kind of value than this run's (edited by hand)."""
  path = os.path.join(workdir, runlog.CONFIG)
  if not isinstance(saved, dict):
    problem = f'holds {runlog.kind(saved)}, expected an object (the run\'s config)'
  else:
    problem = type_problem(saved, wanted)
  if problem:
    raise ConfigError(f'--workdir {workdir!r}: {path}: {problem}; fix or remove it')


def write_config(workdir: str, wanted: dict[str, Any]) -> None:
  """Creates `workdir` (ConfigError when it cannot be written) and writes
  `config.json`."""
  make_writable_dir(workdir)
  runlog.write_json_atomic(os.path.join(workdir, runlog.CONFIG), wanted)


def _check_no_run_files(workdir: str, resume: bool) -> None:
  found = [name for name in RUN_FILES if os.path.exists(os.path.join(workdir, name))]
  if found:
    raise ConfigError(f'--workdir {workdir!r} holds run files ({", ".join(found)}) but no '
                      f'{runlog.CONFIG}, so its experiment is unknown; use another --workdir')
  if resume:
    raise ConfigError(f'--resume: --workdir {workdir!r} holds no run to resume '
                      f'(no {runlog.CONFIG}); check the path, or drop --resume')


def _field(config: Any, name: str) -> Any:
  """The value of dotted field `name` in a JSON config (None if absent)."""
  for key in name.split('.'):
    config = config.get(key) if isinstance(config, dict) else None
  return config


def _short(value: Any, width: int = 40) -> str:
  """`repr(value)`, cut to `width` characters."""
  text = repr(value)
  return text if len(text) <= width else text[:width - 3] + '...'


def describe_difference(saved: dict, wanted: dict, name: str) -> str:
  """`name: <the run's value> in the run, <this one's> now`."""
  return f'{name}: {_short(_field(saved, name))} in the run, {_short(_field(wanted, name))} now'


def _check_same_experiment(workdir: str, saved: dict, wanted: dict, resume: bool) -> None:
  differences = _differences(saved, wanted)
  if differences == ['rounds'] and resume:
    if wanted['rounds'] < saved['rounds']:
      raise ConfigError(f'--config.rounds={wanted["rounds"]} is fewer than the '
                        f'{saved["rounds"]} rounds of the run in --workdir {workdir!r}; '
                        'a run can only be extended')
    return
  if differences == ['rounds']:
    raise ConfigError(f'--workdir {workdir!r} holds this run with rounds={saved["rounds"]}; '
                      f'pass --resume to extend it to {wanted["rounds"]} rounds')
  if differences:
    fields = ', '.join(describe_difference(saved, wanted, name) for name in differences[:8])
    if resume:
      raise ConfigError(f'--resume: the run in --workdir {workdir!r} has another config '
                        f'({fields}); --resume needs the same --config and overrides as the '
                        f'run (see {os.path.join(workdir, runlog.CONFIG)}; only '
                        '--config.rounds may grow), or use another --workdir for a new experiment')
    raise ConfigError(f'--workdir {workdir!r} holds a different experiment '
                      f'(config differs in: {fields}); use another --workdir')
  if not resume:
    raise ConfigError(f'--workdir {workdir!r} already holds this run; pass '
                      f'--resume to continue it or choose another --workdir')


def make_writable_dir(workdir: str) -> None:
  """Creates `workdir` and checks a file can be written there."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise ConfigError(f'--workdir {workdir!r} cannot be written: {e.strerror}') from None


def truncate_after(workdir: str, rounds_done: int) -> None:
  """Drops the metrics rows logged after round `rounds_done` (atomically)."""
  for name in (runlog.METRICS, runlog.CLIENT_NORMS):
    path = os.path.join(workdir, name)
    rows = [r for r in runlog.read_rows(path, runlog.ROW_FIELDS[name])
            if r['round'] <= rounds_done]
    text = ''.join(json.dumps(r) + '\n' for r in rows)
    runlog.write_atomic(path, text)
