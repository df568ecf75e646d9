"""Runs as child processes of the control room, one after another.

A job is one invocation of the training script on a run directory: a new
run, or `--resume` (continue a stopped run, or extend a finished one with
more rounds). Its state is kept in `<run>/job.json` and its console output
in `<run>/console.log`, so the page shows it after the server restarts.

Statuses: queued -> running -> finished | failed | stopped. Stopping a
running job sends SIGTERM once: the training script finishes the round it is
in, checkpoints and exits 130 (`fedjax_sim.run.stop_signals`), so it can be
resumed. Children run in their own session, so a Ctrl-C meant for the server
does not reach them; the server stops them itself. One runner serves a runs
directory at a time (an exclusive lock on `<runs>/.control.lock`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Any, Callable

from fedjax_sim.rundir import lock, runlog
from fedjax_sim.control.safety import Refused

JOB = 'job.json'
CONSOLE = 'console.log'
LOCK = '.control.lock'
QUEUED, RUNNING, FINISHED, FAILED, STOPPED = 'queued', 'running', 'finished', 'failed', 'stopped'
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = 130  # the training script's exit code after a stop signal
ORPHAN_SECONDS = 60.  # a left-over script's time to checkpoint before it is killed


@dataclasses.dataclass
class Job:
  """One training-script invocation on run `name`."""

  name: str
  config_file: str  # a file name in the configs directory
  overrides: dict[str, Any]  # dotted config field -> value, as the form gave them
  sweep: dict[str, list] = dataclasses.field(default_factory=dict)  # swept field -> values
  resume: bool = False
  start_round: int = 0  # rounds done when the job was queued (for the ETA)
  status: str = QUEUED
  created: float = dataclasses.field(default_factory=time.time)
  started: float | None = None
  ended: float | None = None
  returncode: int | None = None
  error: str | None = None
  pid: int | None = None  # of the training script while it runs
  # (round, time) when this server first saw the job past `start_round`: the
  # ETA's pace starts there, after starting and compiling.
  paced_from: tuple[int, float] | None = None

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


def clear_run_files(run_dir: str) -> None:
  """Removes what a run that trained no round left (its config.json, empty
  logs, a checkpoints folder), keeping job.json and console.log, so that
  it can start afresh under its name."""
  for entry in os.scandir(run_dir):
    if entry.name in (JOB, CONSOLE):
      continue
    if entry.is_dir(follow_symlinks=False):
      shutil.rmtree(entry.path)
    else:
      os.unlink(entry.path)


class Runner:
  """Starts queued jobs one at a time in a worker thread.

  `command(job)` is the job's argv; `runs_dir` holds one directory per run.
  """

  def __init__(self, runs_dir: str, command: Callable[[Job], list[str]]):
    self.runs_dir = runs_dir
    self.command = command
    try:
      self._lock_file = lock.hold(os.path.join(runs_dir, LOCK))
    except lock.Busy:
      raise Refused(f'another control room serves {runs_dir}; stop it first', 409) from None
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
    """Jobs a previous server left queued or running are stopped now; a
    training script still running (the server was killed) is sent SIGTERM
    and waited for, so that no two scripts ever write one run."""
    for entry in os.scandir(self.runs_dir):
      job = read_job(entry.path) if entry.is_dir() else None
      if job is None or job.status not in ACTIVE:
        continue
      if job.pid and _runs_in(job.pid, entry.path):
        os.kill(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + ORPHAN_SECONDS
        while _runs_in(job.pid, entry.path):
          if time.monotonic() > deadline:
            os.kill(job.pid, signal.SIGKILL)
          time.sleep(0.1)
      job.status, job.pid = STOPPED, None
      job.error = 'the control room stopped before this run ended'
      self._save(job)

  def _save(self, job: Job) -> None:
    runlog.write_json_atomic(os.path.join(self.runs_dir, job.name, JOB), job.as_json())

  def job(self, name: str) -> Job | None:
    with self._lock:
      if name in self._jobs:
        return self._jobs[name]
    return read_job(os.path.join(self.runs_dir, name))

  def submit(self, job: Job, fresh: bool = False) -> Job:
    """Queues `job`; refused while a job of the same run is queued or
    running. `fresh`: the run trained no round, and starts over."""
    with self._lock:
      current = self.job(job.name)
      if current is not None and current.status in ACTIVE:
        raise Refused(f'run {job.name!r} is already {current.status}', 409)
      if self._closed:
        raise Refused('the control room is shutting down', 503)
      os.makedirs(os.path.join(self.runs_dir, job.name), exist_ok=True)
      if fresh:
        clear_run_files(os.path.join(self.runs_dir, job.name))
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
      elif self._process is not None and not self._stopping:  # a second signal
        self._stopping = True                                  # would end the round
        self._process.send_signal(signal.SIGTERM)
    return job

  def delete(self, name: str) -> None:
    """Removes run `name`'s directory; refused while it is queued or running."""
    with self._lock:
      current = self.job(name)
      if current is not None and current.status in ACTIVE:
        raise Refused(f'run {name!r} is {current.status}; stop it before deleting it', 409)
      shutil.rmtree(os.path.join(self.runs_dir, name))
      self._jobs.pop(name, None)

  def _work(self) -> None:
    while True:
      with self._lock:
        while not self._queue and not self._closed:
          self._lock.wait()
        if self._closed:
          return
        job = self._queue.popleft()
        try:
          self._start(job)
        except Exception as e:  # e.g. the run directory was removed: fail this job only
          job.status, job.ended, job.error = FAILED, time.time(), f'cannot start: {e}'
          self._process = None
          with contextlib.suppress(OSError):
            self._save(job)
          continue
      code = self._process.wait()
      with self._lock:
        self._process = None
        job.returncode, job.ended, job.pid = code, time.time(), None
        # Stopped before the script set its handler (while importing), SIGTERM killed it.
        stopped = code == INTERRUPTED or (self._stopping and code == -signal.SIGTERM)
        job.status = FINISHED if code == 0 else STOPPED if stopped else FAILED
        self._stopping = False
        if job.status == FAILED:
          job.error = last_error(os.path.join(self.runs_dir, job.name, CONSOLE))
        with contextlib.suppress(OSError):  # the run directory is gone
          self._save(job)
        self._lock.notify_all()

  def _start(self, job: Job) -> None:
    """Starts `job`'s process (holding the lock), its output to the console log."""
    job.status, job.started = RUNNING, time.time()
    with open(os.path.join(self.runs_dir, job.name, CONSOLE), 'ab') as console:
      self._process = subprocess.Popen(self.command(job), stdout=console,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
    job.pid = self._process.pid
    self._save(job)

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
      with self._lock:
        if not self._stopping:
          self._stopping = True
          process.send_signal(signal.SIGTERM)
      try:
        process.wait(timeout)
      except subprocess.TimeoutExpired:
        process.kill()
    self._thread.join(timeout)
    self._lock_file.close()  # releases the lock


def _runs_in(pid: int, run_dir: str) -> bool:
  """Whether process `pid` is alive and is a training script writing `run_dir`."""
  try:
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      argv = f.read().split(b'\0')
  except OSError:
    return False
  return f'--workdir={run_dir}'.encode() in argv
