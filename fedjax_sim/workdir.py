"""A run's working directory: config, metrics, TensorBoard, checkpoints, report.

`<workdir>/config.json` pins the experiment: a workdir holding a different
config is refused, and a workdir holding a run is only continued with
`resume=True`, so nothing is ever overwritten by mistake. On resume the rows
logged after the restored checkpoint are dropped (they are recomputed).
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections

from fedjax_sim import runlog
from fedjax_sim.errors import ConfigError

CHECKPOINTS = 'checkpoints'
TENSORBOARD = 'tensorboard'


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON data (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def _differences(old: Any, new: Any, prefix: str = '') -> list[str]:
  """Dotted names of the fields where two JSON configs differ."""
  if isinstance(old, dict) and isinstance(new, dict):
    return [d for k in sorted(set(old) | set(new))
            for d in _differences(old.get(k), new.get(k), f'{prefix}{k}.')]
  return [] if old == new else [prefix.rstrip('.')]


def prepare(workdir: str, config: ml_collections.ConfigDict, resume: bool) -> bool:
  """Checks `workdir` against `config` and writes `config.json`.

  Returns whether a previous run of this experiment is there to resume.
  Raises ConfigError for a workdir of another experiment, or a workdir
  holding this run without `resume`.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'--workdir {workdir!r} exists and is not a directory')
  wanted = config_json(config)
  saved = runlog.read_json(os.path.join(workdir, runlog.CONFIG))
  if saved is not None and saved != wanted:
    fields = ', '.join(_differences(saved, wanted)[:8])
    raise ConfigError(f'--workdir {workdir!r} holds a different experiment '
                      f'(config differs in: {fields}); use another --workdir')
  has_run = saved is not None
  if has_run and not resume:
    raise ConfigError(f'--workdir {workdir!r} already holds this run; pass '
                      f'--resume to continue it or choose another --workdir')
  os.makedirs(workdir, exist_ok=True)
  runlog.write_json_atomic(os.path.join(workdir, runlog.CONFIG), wanted)
  return has_run


def truncate_after(workdir: str, rounds_done: int) -> None:
  """Drops the metrics rows logged after round `rounds_done` (atomically)."""
  for name in (runlog.METRICS, runlog.CLIENT_NORMS):
    path = os.path.join(workdir, name)
    rows = [r for r in runlog.read_jsonl(path) if r['round'] <= rounds_done]
    text = ''.join(json.dumps(r) + '\n' for r in rows)
    runlog.write_atomic(path, text)
