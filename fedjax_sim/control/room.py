"""What the control room's routes share: its settings, the job runner, the
cache of runs' models, and the lookups of runs by name."""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

from fedjax_sim.control import jobs, runs_view
from fedjax_sim.control.model_cache import Models
from fedjax_sim.control.safety import Refused, inside


class Settings(NamedTuple):
  """Where runs live and how they start."""

  runs_dir: str
  configs_dir: str
  train_script: str
  token: str | None = None
  max_upload_bytes: int = 20 << 20
  python: str = sys.executable
  poll_seconds: float = 1.


class Room(NamedTuple):
  """One app's settings, runner and models."""

  settings: Settings
  runner: jobs.Runner
  models: Models

  def run_dir(self, name: str) -> str:
    runs_dir = self.settings.runs_dir
    path = inside(runs_dir, name, 'run')
    if name not in runs_view.run_names(runs_dir):
      raise Refused(f'run={name!r}: no such run', 404)
    return path

  def snapshot(self) -> list[dict[str, Any]]:
    runs_dir = self.settings.runs_dir
    return [runs_view.summary(os.path.join(runs_dir, name), name,
                              self.runner.job(name)) for name in runs_view.run_names(runs_dir)]
