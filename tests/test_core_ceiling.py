"""`benchmarks/core_ceiling.py`: its matmul lists cover the steps they bound,
its PyTorch child answers, bad input is one line and exit 2, and Ctrl-C
one line and exit 130 with its child gone."""

import os
import subprocess
import sys
import time

import pytest

import interruptible

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'benchmarks')
sys.path.insert(0, os.path.join(BENCH, 'peers'))
sys.path.insert(0, BENCH)

import core_ceiling  # noqa: E402
import flops  # noqa: E402
from peer_venvs import peer_python, require_peer  # noqa: E402


def _dot_flops(dot: core_ceiling.Dot) -> int:
  """2 x the product of the equation's distinct index sizes, times `count`."""
  inputs = dot.equation.split('->')[0].split(',')
  sizes = {}
  for letters, shape in zip(inputs, (dot.lhs, dot.rhs)):
    for letter, size in zip(letters, shape):
      assert sizes.setdefault(letter, size) == size, (dot.name, letter)
  product = 1
  for size in sizes.values():
    product *= size
  return 2 * product * dot.count


@pytest.mark.parametrize('workload,dots', [('cnn', core_ceiling.cnn_dots),
                                           ('lstm', core_ceiling.lstm_dots)])
def test_the_matmuls_make_up_the_steps_flops(workload, dots):
  # XLA's count of the whole step (the CNN as im2col) against the listed
  # matmuls: a missing or mis-shaped one moves the sum out of the band
  # (the rest of the step, element-wise work, is 1-2%).
  step = flops.step_flops(workload, core_ceiling.BATCH[workload])
  listed = sum(_dot_flops(d) for d in dots())
  assert 0.97 * step < listed < step, (listed, step)


def test_the_pytorch_child_times_the_steps_it_is_asked_for():
  require_peer('pfl')
  out = subprocess.run([peer_python('pfl'), os.path.join(BENCH, 'peers', 'torch_step.py'),
                        '--workload=cnn', '--batch=2'], input='1\n2\n', capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  lines = out.stdout.splitlines()
  assert lines[0].startswith('ready 2.') and len(lines) == 3, lines
  assert all(float(t) > 0 for t in lines[1:])


@pytest.mark.parametrize('args,message', [
    (['--workloads=mlp'], "--workloads: unknown workload 'mlp'; expected cnn, lstm"),
    (['--repeats=0'], '--repeats must be a positive integer, got 0'),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
  out = subprocess.run([sys.executable, os.path.join(BENCH, 'core_ceiling.py')] + args,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines() == [f'core_ceiling.py: {message}']


def _in_group(group: int, needle: str) -> bool:
  """Whether a process of process group `group` runs a command containing `needle`."""
  for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        command = f.read().decode(errors='replace')
      if os.getpgid(int(pid)) == group and needle in command:
        return True
    except (OSError, ProcessLookupError):
      continue
  return False


@pytest.mark.parametrize('after_s', [0.3, 3])
def test_ctrl_c_is_one_line_and_stops_the_pytorch_child(after_s):
  """Was: a traceback, from the parent or from the PyTorch child importing
  torch. As a terminal's Ctrl-C: SIGINT to the process group, `after_s` after
  the child started (importing torch, or timing steps on an idle host)."""
  require_peer('pfl')
  proc = interruptible.popen([sys.executable, os.path.join(BENCH, 'core_ceiling.py'),
                              '--workloads=cnn', '--repeats=100000'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
  deadline = time.monotonic() + 300
  while not _in_group(proc.pid, 'torch_step.py'):
    assert proc.poll() is None, proc.communicate()
    assert time.monotonic() < deadline, 'the PyTorch child never started'
    time.sleep(0.2)
  time.sleep(after_s)
  assert interruptible.ctrl_c(proc) == (
      'core_ceiling.py: interrupted; nothing was measured to the end')
