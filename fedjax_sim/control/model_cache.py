"""Each run's global model for predictions and downloads, loaded from its
newest checkpoint once per checkpoint."""

from __future__ import annotations

import os
import threading

from fedjax_sim import export
from fedjax_sim.control.safety import Refused
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir.sweep_record import SWEEP
from fedjax_sim.rundir.workdir import CHECKPOINTS


def newest_checkpoint(run_dir: str) -> int | None:
  """The round of the run's newest checkpoint directory (None: none yet)."""
  try:
    rounds = [int(d) for d in os.listdir(os.path.join(run_dir, CHECKPOINTS)) if d.isdigit()]
  except FileNotFoundError:
    return None
  return max(rounds, default=None)


class Models:
  """Each run's global model from its newest checkpoint, loaded once per
  checkpoint (building a run's model reads its data)."""

  def __init__(self):
    self._lock = threading.Lock()
    self._models: dict[str, tuple[int | None, export.ExportedModel]] = {}

  def get(self, run_dir: str) -> export.ExportedModel:
    if os.path.isfile(os.path.join(run_dir, SWEEP)):
      raise Refused(f'run {os.path.basename(run_dir)!r} is a sweep, with a model per member: '
                    'load one with scripts/predict.py --workdir=<run>/members/<index>', 409)
    newest = newest_checkpoint(run_dir)
    with self._lock:
      cached = self._models.get(run_dir)
      if cached is None or cached[0] != newest:
        name = os.path.basename(run_dir)
        try:
          cached = (newest, export.from_run(run_dir))
        except (ConfigError, DataError) as e:
          message = str(e).replace(f'--workdir {run_dir!r}', f'run {name!r}')
          raise Refused(message.replace(run_dir, name), 409) from None
        self._models[run_dir] = cached
      return cached[1]

  def forget(self, run_dir: str) -> None:
    """Drops the run's model (its directory was deleted)."""
    with self._lock:
      self._models.pop(run_dir, None)
