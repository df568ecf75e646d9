"""Starting benchmark workers and talking to them (`protocol`).

Systems: `fedjax_sim:<strategy>` and `jit_loop` run in this environment;
`fedjax`, `flower` and `pfl` in their own virtual environments under `venvs`
(made by `setup_venv.sh`).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from typing import Any

import psutil

import protocol

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENVS = os.path.join(os.path.dirname(HERE), '.venvs')
PEERS = ('fedjax', 'flower', 'pfl')
# Most rounds in one timed sample (`rounds_per_sample`).
MAX_ROUNDS_PER_SAMPLE = 50


def worker_command(system: str, workload: str, clients: int, rounds: int,
                   venvs: str = DEFAULT_VENVS, sizes: str = 'equal') -> list[str]:
  """The command line of `system`'s worker timing `rounds` rounds on clients
  of `sizes` (`workloads.SIZES`; `jit_loop` runs `equal` only)."""
  args = [f'--workload={workload}', f'--clients={clients}']
  if sizes != 'equal':
    if system == 'jit_loop':
      raise ValueError(f'--systems={system} runs --sizes=equal only, got {sizes!r}')
    args.append(f'--sizes={sizes}')
  if system.startswith('fedjax_sim:') or system == 'jit_loop':
    return [sys.executable, os.path.join(HERE, 'jax_worker.py'), f'--system={system}'] + args
  if system not in PEERS:
    raise ValueError(f"--systems: unknown system {system!r}; expected fedjax_sim:<strategy>, "
                     f"jit_loop, {', '.join(PEERS)}")
  python = os.path.join(venvs, system, 'bin', 'python')
  if not os.path.exists(python):
    raise FileNotFoundError(f'--systems={system} needs {python}; create it with '
                            f'`bash benchmarks/peers/setup_venv.sh {system}`')
  extra = [f'--rounds={rounds}'] if system == 'flower' else []
  return [python, os.path.join(HERE, f'{system}_worker.py')] + args + extra


def rounds_per_sample(round_seconds: float, sample_seconds: float) -> int:
  """Rounds of `round_seconds` each that fill about `sample_seconds`: at
  least 1, at most `MAX_ROUNDS_PER_SAMPLE`."""
  if sample_seconds <= 0 or round_seconds >= sample_seconds:
    return 1
  return min(MAX_ROUNDS_PER_SAMPLE, math.ceil(sample_seconds / max(round_seconds, 1e-9)))


def usage_error(message: str) -> None:
  """Bad input to a benchmark script: one line on stderr, exit 2."""
  print(f'{os.path.basename(sys.argv[0])}: {message}', file=sys.stderr)
  sys.exit(2)


def check_sampling(repeats: int, sample_seconds: float) -> None:
  """`--repeats` and `--sample_seconds` of a benchmark script, or `usage_error`."""
  if repeats < 1:
    usage_error(f'--repeats must be a positive integer, got {repeats}')
  if not sample_seconds >= 0:
    usage_error(f'--sample_seconds must be 0 or more seconds, got {sample_seconds:g}')


def run_app(main) -> None:
  """`absl.app.run(main)`; a Ctrl-C is one line and exit 130 (the workers,
  in the same process group, stop with it; their logs keep their output)."""
  from absl import app
  try:
    app.run(main)
  except KeyboardInterrupt:
    print(f'{os.path.basename(sys.argv[0])}: interrupted; rounds not yet timed are not '
          'reported', file=sys.stderr)
    sys.exit(130)


class Worker:
  """One running worker; samples the peak resident memory of its process
  tree (Flower's Ray processes included) while it starts and runs rounds.
  An idle worker's memory does not grow, and not sampling it leaves the
  cores to the system being timed."""

  def __init__(self, system: str, command: list[str], log_path: str):
    self.system = system
    self.info: dict[str, Any] = {}
    self.peak_rss = 0
    self._busy = threading.Event()
    self._busy.set()  # starting up
    self._log = open(log_path, 'w')
    self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._log, text=True, bufsize=1)
    self._sampler = threading.Thread(target=self._sample, daemon=True)
    self._sampler.start()

  def _sample(self) -> None:
    try:
      root = psutil.Process(self._proc.pid)
      while self._proc.poll() is None:
        if not self._busy.wait(timeout=0.5):
          continue
        total = 0
        for p in [root] + root.children(recursive=True):
          try:
            total += p.memory_info().rss
          except psutil.Error:
            pass
        self.peak_rss = max(self.peak_rss, total)
        time.sleep(0.05)
    except psutil.Error:
      pass

  def _expect(self, kind: str) -> dict[str, Any]:
    for line in self._proc.stdout:
      message = protocol.parse(line)
      if message and message[0] == kind:
        return message[1]
    raise RuntimeError(f'{self.system} worker exited (code {self._proc.wait()}) before '
                       f"'{kind}'; its log is {self._log.name}")

  def wait_ready(self) -> dict[str, Any]:
    self.info = self._expect('ready')
    self._busy.clear()
    return self.info

  def time_round(self) -> float:
    self._busy.set()
    try:
      self._proc.stdin.write('round\n')
      self._proc.stdin.flush()
      return self._expect('round')['seconds']
    finally:
      self._busy.clear()

  def close(self) -> None:
    try:
      self._proc.stdin.write('quit\n')
      self._proc.stdin.close()
    except (BrokenPipeError, ValueError):
      pass
    try:
      self._proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
      self._proc.kill()
      self._proc.wait()
    self._sampler.join(timeout=5)
    self._log.close()
