"""Writes a run's metrics as it trains: JSONL rows, the latest per-client
evaluation (`clients.json`) and TensorBoard summaries."""

from __future__ import annotations

import os
import time

import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams

from fedjax_sim.rundir import runlog
from fedjax_sim.rundir.workdir import TENSORBOARD


EVAL_METRICS = ('test_accuracy', 'test_loss', 'train_loss', 'client_train_accuracy')


class Recorder:
  """Appends to `metrics.jsonl` / `client_norms.jsonl` and TensorBoard; a new
  run's config goes to TensorBoard as hparams.

  `start_round` is the number of rounds already done (resume): TensorBoard
  events from later steps are purged, as they will be written again.
  """

  def __init__(self, workdir: str, start_round: int,
               client_names: tuple[str, ...] | None = None):
    self.workdir = workdir
    self.client_names = client_names
    self.writer = SummaryWriter(os.path.join(workdir, TENSORBOARD),
                                purge_step=start_round + 1 if start_round else None)
    if not start_round:
      self._hparams(runlog.read_json(os.path.join(workdir, runlog.CONFIG)) or {})

  def _hparams(self, config: dict) -> None:
    """The config as TensorBoard hparams (dotted field names), so TensorBoard's
    HPARAMS tab compares runs by config against their eval metrics."""
    metrics = {f'eval/{name}': 0. for name in EVAL_METRICS}
    for summary in hparams(runlog.flatten(config), metrics)[:2]:  # experiment, session start
      self.writer._get_file_writer().add_summary(summary)

  def round(self, rounds_done: int, train_loss: float, client_ids: np.ndarray,
            norms: np.ndarray, client_losses: np.ndarray,
            clock: dict[str, float] | None = None) -> None:
    """Per round: the training loss, and the sampled clients' ids, update
    norms and local training losses (a non-finite norm, of a dropped client,
    is logged as null and left out of the histogram); on the virtual clock
    also its `clock` fields (`virtual_time`, `round_seconds`, ...)."""
    norms = np.asarray(norms, np.float64)
    finite = np.isfinite(norms)
    runlog.append_jsonl(os.path.join(self.workdir, runlog.CLIENT_NORMS), {
        'round': rounds_done, 'clients': np.asarray(client_ids).tolist(),
        'norms': runlog.nulls(norms), 'train_loss': runlog.nulls(client_losses),
        **(clock or {})})
    self.writer.add_scalar('round/train_loss', train_loss, rounds_done)
    if finite.any():
      self.writer.add_histogram('round/client_update_norm', norms[finite], rounds_done)

  def evals(self, evals: dict[str, float]) -> None:
    """Per evaluation: every metric."""
    runlog.append_jsonl(os.path.join(self.workdir, runlog.METRICS),
                        {'time': time.time(), **evals})
    for name, value in evals.items():
      if name != 'round':
        self.writer.add_scalar(f'eval/{name}', value, evals['round'])
    self.writer.flush()

  def clients(self, rounds_done: int, table: dict[str, np.ndarray]) -> None:
    """Per evaluation: each evaluated client's id (and name, for tables with
    a client column), examples, and accuracy and loss on its own training
    data, replacing the previous evaluation's (`runlog.CLIENTS`)."""
    names = self.client_names
    runlog.write_json_atomic(os.path.join(self.workdir, runlog.CLIENTS), {
        'round': rounds_done, 'client': table['client'].tolist(),
        'name': [names[i] for i in table['client']] if names else None,
        'examples': table['examples'].tolist(), 'accuracy': runlog.nulls(table['accuracy']),
        'loss': runlog.nulls(table['loss'])})

  def close(self) -> None:
    self.writer.close()
