"""SIGINT and SIGTERM before `scripts/train.py` trains (issue 28, item 19): one
line naming what was saved and exit 130, whenever they land: while the
script imports JAX (it sets its handler first), or while it loads its data
(main has started, the workdir may hold a run)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import interruptible
from test_data_pin import csv_config, small_csv
from fedjax_sim.config.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'train.py')
NOTHING = 'interrupted before training started; nothing was saved: run it again'

pytestmark = pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='reads /proc')


def start(*flags: str) -> subprocess.Popen:
  """The script, with Ctrl-C not ignored (`interruptible.popen`)."""
  return interruptible.popen([sys.executable, SCRIPT, *flags], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)


def catches_sigterm(pid: int) -> bool:
  """Whether the process has a handler for SIGTERM (Python sets none of its own)."""
  with open(f'/proc/{pid}/status') as f:
    caught = next(line for line in f if line.startswith('SigCgt:'))
  return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


def stop_signal_threads(pid: int) -> list[str]:
  """What the threads of a process that do not block SIGINT or SIGTERM are
  waiting in. A stop signal the kernel gives a thread with a Python handler
  waits for the main thread's next bytecode: forever, if it is blocked
  reading a pipe. One that waits for them (sigwait: 'do_sigtimedwait') takes
  them."""
  stop = 1 << (signal.SIGINT - 1) | 1 << (signal.SIGTERM - 1)
  found = []
  for tid in os.listdir(f'/proc/{pid}/task'):
    with open(f'/proc/{pid}/task/{tid}/status') as f:
      fields = dict(line.split(':', 1) for line in f)
    if int(fields['SigBlk'], 16) & stop != stop:
      with open(f'/proc/{pid}/task/{tid}/wchan') as f:
        found.append(f.read().split('.')[0])  # the kernel's symbol, less a '.isra.0'
  return found


def wait_until(ready, process: subprocess.Popen, timeout: float = 120.) -> None:
  end = time.monotonic() + timeout
  while not ready():
    assert process.poll() is None, process.communicate()
    assert time.monotonic() < end, 'timed out'
    time.sleep(0.002)


def stderr_after(process: subprocess.Popen, sig: int) -> str:
  process.send_signal(sig)
  _, err = process.communicate(timeout=120)
  assert process.returncode == 130, err
  return err


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_importing_is_one_line(sig):
  """Was: SIGINT a traceback (or a segmentation fault), SIGTERM exit 143 silently."""
  process = start('--config.rounds=2')
  wait_until(lambda: catches_sigterm(process.pid), process)  # the script's first lines ran
  assert stderr_after(process, sig) == NOTHING + '\n'


@pytest.fixture(scope='module')
def run_on_a_pipe(tmp_path_factory):
  """A finished 2-round run whose CSV is then replaced by a named pipe: its
  --resume blocks reading the data (main has started) until signalled."""
  tmp = tmp_path_factory.mktemp('signals')
  path = small_csv(tmp / 'h.csv')
  workdir = str(tmp / 'run')
  train(csv_config(path, 2), log=lambda line: None, workdir=workdir)
  os.remove(path)
  os.mkfifo(path)
  flags = ('--config=configs/hospitals.py', f'--config.data.path={path}',
           '--config.data.label=outcome', '--config.data.client_column=hospital',
           '--config.rounds=2', '--config.eval_every=1', '--config.clients_per_round=3')
  return path, workdir, flags


@pytest.mark.parametrize('workdir_holds, line', [
    (None, NOTHING),
    ('config.json', 'interrupted before training started; no round was saved: run it again '
                    'with --resume'),
    ('checkpoints', 'interrupted before training started; continue from the last checkpoint '
                    'with --resume')])
def test_a_signal_while_loading_data_says_what_was_saved(run_on_a_pipe, tmp_path,
                                                          workdir_holds, line):
  """Was: 'continue from the last checkpoint with --resume' with nothing to resume."""
  path, workdir, flags = run_on_a_pipe
  if workdir_holds:
    copy = str(tmp_path / 'run')
    shutil.copytree(workdir, copy)
    if workdir_holds == 'config.json':
      shutil.rmtree(os.path.join(copy, 'checkpoints'))
    flags += (f'--workdir={copy}', '--resume')
  process = start(*flags)
  writer = []

  def reading() -> bool:  # the script opened the pipe and waits for rows
    try:
      writer.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: no reader yet
      return False
    return True

  wait_until(reading, process)
  try:
    assert stop_signal_threads(process.pid) == ['do_sigtimedwait']  # CI hung once
    assert stderr_after(process, signal.SIGINT) == line + '\n'
  finally:
    os.close(writer[0])
