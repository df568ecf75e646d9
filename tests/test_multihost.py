"""Two CPU processes on loopback (jax.distributed, gloo collectives), each with
two devices, train to the same parameters as one process without sharding."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'multihost_check.py')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(process_id, num_processes, port, devices=2):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
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
