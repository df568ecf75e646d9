"""Writes a run's metrics as it trains: JSONL rows and TensorBoard summaries."""

from __future__ import annotations

import os
import time

import numpy as np
from tensorboardX import SummaryWriter

from fedjax_sim import runlog
from fedjax_sim.workdir import TENSORBOARD


class Recorder:
  """Appends to `metrics.jsonl` / `client_norms.jsonl` and TensorBoard.

  `start_round` is the number of rounds already done (resume): TensorBoard
  events from later steps are purged, as they will be written again.
  """

  def __init__(self, workdir: str, start_round: int):
    self.workdir = workdir
    self.writer = SummaryWriter(os.path.join(workdir, TENSORBOARD),
                                purge_step=start_round + 1 if start_round else None)

  def round(self, rounds_done: int, train_loss: float, norms: np.ndarray) -> None:
    """Per round: the training loss and every sampled client's update norm."""
    runlog.append_jsonl(os.path.join(self.workdir, runlog.CLIENT_NORMS),
                        {'round': rounds_done, 'norms': np.asarray(norms).tolist()})
    self.writer.add_scalar('round/train_loss', train_loss, rounds_done)
    self.writer.add_histogram('round/client_update_norm', np.asarray(norms), rounds_done)

  def evals(self, evals: dict[str, float]) -> None:
    """Per evaluation: every metric."""
    runlog.append_jsonl(os.path.join(self.workdir, runlog.METRICS),
                        {'time': time.time(), **evals})
    for name, value in evals.items():
      if name != 'round':
        self.writer.add_scalar(f'eval/{name}', value, evals['round'])
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()
