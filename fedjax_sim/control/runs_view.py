"""What the page shows of a run, read from its directory: status, progress
and ETA, metrics with training wall time, and the per-client table."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from fedjax_sim.rundir import runlog, sweep_record
from fedjax_sim.rundir.report import REPORT_HTML
from fedjax_sim.control.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, Job, read_job
from fedjax_sim.control import sweep_view
from fedjax_sim.control.model_cache import newest_checkpoint
from fedjax_sim.control.safety import NAME
from fedjax_sim.errors import DataError

EXTERNAL = 'external'  # an unfinished run this control room did not start


def run_names(runs_dir: str) -> list[str]:
  """The runs under `runs_dir`: directories with a plain name holding a run
  (config.json) or a job (job.json), oldest first."""
  runs = []
  for entry in os.scandir(runs_dir):
    if not (entry.is_dir() and NAME.fullmatch(entry.name)):
      continue
    job, config = read_job(entry.path), os.path.join(entry.path, runlog.CONFIG)
    if job is not None:
      runs.append((job.created, entry.name))
    elif os.path.exists(config):
      runs.append((os.path.getmtime(config), entry.name))
  return [name for _, name in sorted(runs)]


def data_users(runs_dir: str, path: str, job_of: Callable[[str], Job | None]) -> list[str]:
  """The runs that train on the file `path`: their job's `data.path`
  (queued ones have no config.json yet) or their config.json's."""
  users = []
  for name in run_names(runs_dir):
    job = job_of(name)
    try:
      config = runlog.read_json(os.path.join(runs_dir, name, runlog.CONFIG)) or {}
    except DataError:
      config = {}
    data = config.get('data') if isinstance(config, dict) else None
    used = {job.overrides.get('data.path') if job else None,
            data.get('path') if isinstance(data, dict) else None}
    if path in used:
      users.append(name)
  return users


def rounds_done(run_dir: str) -> int:
  """Rounds recorded in the run's per-round log (a sweep: its furthest member's)."""
  if os.path.isdir(os.path.join(run_dir, sweep_record.MEMBERS)):
    return max(sweep_view.member_rounds(run_dir), default=0)
  last = runlog.last_record(os.path.join(run_dir, runlog.CLIENT_NORMS))
  return int(last['round']) if last else 0


def seconds_left(job: Job | None, done: int, total: int | None, now: float) -> float | None:
  """The ETA of a running job: its pace since the first round this server saw
  it finish (`job.paced_from`, set here), so starting and compiling, which
  the first round includes, do not count; None until a second round is seen."""
  if job is None or job.status != RUNNING or not total or done <= job.start_round:
    return None
  if job.paced_from is None or job.paced_from[0] > done:
    job.paced_from = (done, now)
  first, since = job.paced_from
  if done == first:
    return None
  return max(0., (total - done) * (now - since) / (done - first))


def summary(run_dir: str, name: str, job: Job | None, now: float | None = None
            ) -> dict[str, Any]:
  """A run's status, `round` of `rounds`, ETA (s, while running), job
  details, its config and last metrics row; a sweep's `sweep` progress
  (`sweep_view.progress`; `round`: its furthest member's)."""
  try:
    config, unreadable = runlog.read_json(os.path.join(run_dir, runlog.CONFIG)) or {}, None
  except DataError as e:
    config, unreadable = {}, f'error: {e}'.replace(run_dir, name)
  total = (job.overrides.get('rounds') if job else None) or config.get('rounds')
  done = rounds_done(run_dir)
  last = runlog.last_record(os.path.join(run_dir, runlog.METRICS))
  if job is not None:
    status = job.status
  else:
    status = FINISHED if total and done >= total else EXTERNAL
  now = time.time() if now is None else now
  sweep = sweep_view.progress(run_dir, total) if sweep_view.is_sweep(
      run_dir, bool(job and job.sweep), config) else None
  eta = (seconds_left(job, sweep['member_rounds'], sweep['total'], now) if sweep
         else seconds_left(job, done, total, now))
  return {'name': name, 'status': status, 'round': done, 'rounds': total, 'eta': eta,
          'sweep': sweep,
          'config_file': job.config_file if job else None,
          'error': (job.error if job else None) or unreadable,
          # A run stopped before its first round (queued, starting, or left by
          # a killed server) starts afresh; a failed one resumes if it trained.
          'resumable': status == STOPPED or status == FAILED and done > 0,
          'deletable': status not in (QUEUED, RUNNING, EXTERNAL),
          'report': os.path.exists(os.path.join(run_dir, REPORT_HTML)),
          # Predict can load it (a sweep's members: each one's report)
          'checkpoint': not sweep and newest_checkpoint(run_dir) is not None,
          'config': config, 'last': last}


def metrics_rows(run_dir: str) -> list[dict[str, Any]]:
  """The run's metrics rows, each with `wall_time`: seconds of training up to
  that evaluation (the sum of the logged rounds over rounds/s), which leaves
  out pauses between a stop and a resume."""
  rows, wall, previous = [], 0., 0
  for row in runlog.read_jsonl(os.path.join(run_dir, runlog.METRICS)):
    rate = row.get('rounds_per_sec')
    if isinstance(rate, (int, float)) and rate > 0:
      wall += (row['round'] - previous) / rate
    previous = row['round']
    rows.append({**row, 'wall_time': wall})
  return rows


def client_table(run_dir: str) -> dict[str, Any]:
  """Per client: id, name (tables with a client column), examples, times
  sampled, the round it last trained in with its local training loss and
  update norm, and its accuracy and loss on its own training data at the
  latest evaluation (`round`)."""
  clients: dict[int, dict[str, Any]] = {}

  def row(client: int) -> dict[str, Any]:
    return clients.setdefault(client, {
        'client': client, 'name': None, 'examples': None, 'times_sampled': 0,
        'last_round': None, 'train_loss': None, 'update_norm': None,
        'accuracy': None, 'loss': None})

  for record in runlog.read_jsonl(os.path.join(run_dir, runlog.CLIENT_NORMS)):
    losses = record.get('train_loss') or [None] * len(record['clients'])
    for client, norm, loss in zip(record['clients'], record['norms'], losses):
      entry = row(client)
      entry.update(times_sampled=entry['times_sampled'] + 1, last_round=record['round'],
                   update_norm=norm, train_loss=loss)
  evaluated = runlog.read_json(os.path.join(run_dir, runlog.CLIENTS))
  if evaluated:
    names = evaluated['name'] or [None] * len(evaluated['client'])
    for k, client in enumerate(evaluated['client']):
      row(client).update(name=names[k], examples=evaluated['examples'][k],
                         accuracy=evaluated['accuracy'][k], loss=evaluated['loss'][k])
  return {'round': evaluated['round'] if evaluated else None,
          'clients': [clients[c] for c in sorted(clients)]}
