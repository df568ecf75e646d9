"""Runs as child processes of the control room, one after another.

A job is one invocation of the training script on a run directory: a new
run, or `--resume` (continue a stopped run, or extend a finished one with
more rounds). Its state is kept in `<run>/job.json` and its console output
in `<run>/console.log`, so the page shows it after the server restarts.

Statuses: queued -> running -> finished | failed | stopped. Stopping a
running job sends SIGTERM: the training script finishes the round it is in,
checkpoints and exits 130 (`fedjax_sim.stop_signals`), so it can be resumed.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

from fedjax_sim import runlog
from fedjax_sim.control.safety import Refused

JOB = 'job.json'
CONSOLE = 'console.log'
QUEUED, RUNNING, FINISHED, FAILED, STOPPED = 'queued', 'running', 'finished', 'failed', 'stopped'
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = 130  # the training script's exit code after a stop signal


@dataclasses.dataclass
class Job:
  """One training-script invocation on run `name`."""

  name: str
  config_file: str  # a file name in the configs directory
  overrides: dict[str, Any]  # dotted config field -> value, as the form gave them
  resume: bool = False
  start_round: int = 0  # rounds done when the job was queued (for the ETA)
  status: str = QUEUED
  created: float = dataclasses.field(default_factory=time.time)
  started: float | None = None
  ended: float | None = None
  returncode: int | None = None
  error: str | None = None

  def as_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def read_job(run_dir: str) -> Job | None:
  """The job last recorded in `run_dir` (None for a run not started here)."""
  data = runlog.read_json(os.path.join(run_dir, JOB))
  return None if data is None else Job(**data)


def last_error(console_path: str) -> str:
  """The `error: ...` line of a failed run's console output, else its last line."""
  try:
    with open(console_path, errors='replace') as f:
      lines = [line.rstrip() for line in f if line.strip()]
  except FileNotFoundError:
    return 'no console output'
  errors = [line for line in lines if line.startswith('error:')]
  return (errors or lines or ['no console output'])[-1][:500]


class Runner:
  """Starts queued jobs one at a time in a worker thread.

  `command(job)` is the job's argv; `runs_dir` holds one directory per run.
  """

  def __init__(self, runs_dir: str, command: Callable[[Job], list[str]]):
    self.runs_dir = runs_dir
    self.command = command
    self._lock = threading.Condition()
    self._queue: collections.deque[Job] = collections.deque()
    self._jobs: dict[str, Job] = {}
    self._process: subprocess.Popen | None = None
    self._stopping = False  # a stop was sent to the running process
    self._closed = False
    self._orphans_stopped()
    self._thread = threading.Thread(target=self._work, name='runner', daemon=True)
    self._thread.start()

  def _orphans_stopped(self) -> None:
    """Jobs a previous server left queued or running are stopped now."""
    for entry in os.scandir(self.runs_dir):
      job = read_job(entry.path) if entry.is_dir() else None
      if job is not None and job.status in ACTIVE:
        job.status, job.error = STOPPED, 'the control room stopped before this run ended'
        self._save(job)

  def _save(self, job: Job) -> None:
    runlog.write_json_atomic(os.path.join(self.runs_dir, job.name, JOB), job.as_json())

  def job(self, name: str) -> Job | None:
    with self._lock:
      if name in self._jobs:
        return self._jobs[name]
    return read_job(os.path.join(self.runs_dir, name))

  def submit(self, job: Job) -> Job:
    """Queues `job`; refused while a job of the same run is queued or running."""
    with self._lock:
      current = self.job(job.name)
      if current is not None and current.status in ACTIVE:
        raise Refused(f'run {job.name!r} is already {current.status}', 409)
      if self._closed:
        raise Refused('the control room is shutting down', 503)
      os.makedirs(os.path.join(self.runs_dir, job.name), exist_ok=True)
      self._jobs[job.name] = job
      self._save(job)
      self._queue.append(job)
      self._lock.notify_all()
    return job

  def stop(self, name: str) -> Job:
    """Stops run `name`: a queued job leaves the queue, a running one gets
    SIGTERM (it checkpoints after its round, then exits)."""
    with self._lock:
      job = self._jobs.get(name)
      if job is None or job.status not in ACTIVE:
        raise Refused(f'run {name!r} is not queued or running', 409)
      if job.status == QUEUED:
        self._queue.remove(job)
        job.status, job.ended = STOPPED, time.time()
        self._save(job)
      elif self._process is not None:
        self._stopping = True
        self._process.send_signal(signal.SIGTERM)
    return job

  def _work(self) -> None:
    while True:
      with self._lock:
        while not self._queue and not self._closed:
          self._lock.wait()
        if self._closed:
          return
        job = self._queue.popleft()
        job.status, job.started = RUNNING, time.time()
        self._save(job)
        console = open(os.path.join(self.runs_dir, job.name, CONSOLE), 'ab')
        self._process = subprocess.Popen(self.command(job), stdout=console,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
      code = self._process.wait()
      console.close()
      with self._lock:
        self._process = None
        job.returncode, job.ended = code, time.time()
        # Stopped before the script set its handler (while importing), SIGTERM killed it.
        stopped = code == INTERRUPTED or (self._stopping and code == -signal.SIGTERM)
        job.status = FINISHED if code == 0 else STOPPED if stopped else FAILED
        self._stopping = False
        if job.status == FAILED:
          job.error = last_error(os.path.join(self.runs_dir, job.name, CONSOLE))
        self._save(job)
        self._lock.notify_all()

  def wait_idle(self, timeout: float) -> bool:
    """Waits until no job is queued or running; returns whether that happened."""
    deadline = time.monotonic() + timeout
    with self._lock:
      while self._queue or self._process is not None:
        left = deadline - time.monotonic()
        if left <= 0:
          return False
        self._lock.wait(left)
    return True

  def close(self, timeout: float = 60.) -> None:
    """Empties the queue (those jobs are stopped) and stops the running job,
    waiting up to `timeout` s for it to checkpoint before killing it."""
    with self._lock:
      self._closed = True
      for job in self._queue:
        job.status, job.ended = STOPPED, time.time()
        self._save(job)
      self._queue.clear()
      process = self._process
      self._lock.notify_all()
    if process is not None:
      self._stopping = True
      process.send_signal(signal.SIGTERM)
      try:
        process.wait(timeout)
      except subprocess.TimeoutExpired:
        process.kill()
    self._thread.join(timeout)
