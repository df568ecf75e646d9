"""Two CPU processes on loopback (jax.distributed, gloo collectives), each with
two devices, train to the same parameters as one process without sharding."""

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
from conftest import xla_flags

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'multihost_check.py')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(process_id, num_processes, port, devices=2):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags(f'--xla_force_host_platform_device_count={devices}')}
  return subprocess.Popen([sys.executable, SCRIPT, str(process_id), str(num_processes),
                           str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env)


def result(proc):
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  reports = [line for line in out.splitlines() if line.startswith('{')]  # gloo logs too
  return json.loads(reports[-1]) if reports else None


def test_two_processes_equal_one_process():
  single = result(launch(0, 1, 0, devices=1))
  port = free_port()
  procs = [launch(i, 2, port) for i in range(2)]
  multi, other = [result(p) for p in procs]
  assert other is None  # only process 0 reports
  assert single['devices'] == 1 and multi['devices'] == 4
  for a, b in zip(single['leaves'], multi['leaves']):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(single['loss'], multi['loss'], rtol=1e-5)


TRAIN = os.path.join(os.path.dirname(SCRIPT), '..', 'scripts', 'train.py')


def eval_lines(out: str) -> list[str]:
  """Eval lines without the rounds/s timing (and the end-of-run history)."""
  return [line.split('  rounds/s')[0] for line in out.splitlines()
          if re.match(r'round +\d+ ', line)]


def test_train_script_two_processes_print_the_single_process_lines():
  args = [sys.executable, TRAIN, '--config.rounds=6', '--config.eval_every=3']
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  single = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
  assert single.returncode == 0, single.stderr[-2000:]
  port = free_port()
  env['XLA_FLAGS'] = xla_flags('--xla_force_host_platform_device_count=2')
  procs = [subprocess.Popen(args + ['--num_processes=2', f'--process_id={i}',
                                    f'--coordinator_address=127.0.0.1:{port}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env) for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:]
  assert len(eval_lines(single.stdout)) == 2
  assert eval_lines(outs[0][0]) == eval_lines(single.stdout)
  assert eval_lines(outs[1][0]) == []  # process 1 does not report
