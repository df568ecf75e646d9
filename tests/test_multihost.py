"""Two CPU processes on loopback (jax.distributed, gloo collectives), each with
two devices, train to the same parameters as one process without sharding."""

import glob
import json
import os
import re
import socket
import subprocess
import sys
import time

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


def train_processes(workdir: str, rounds: int, resume: bool = False, num: int = 2
                    ) -> list[subprocess.Popen]:
  """`num` processes of scripts/train.py on a host population with `workdir`."""
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2')}
  args = [sys.executable, TRAIN, f'--config.rounds={rounds}', '--config.eval_every=2',
          '--config.checkpoint.every=1', '--config.engine.population=host',
          '--progress=none', f'--workdir={workdir}'] + (['--resume'] if resume else [])
  if num > 1:
    args += [f'--num_processes={num}', f'--coordinator_address=127.0.0.1:{port}']
  return [subprocess.Popen(args + ([f'--process_id={i}'] if num > 1 else []),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
          for i in range(num)]


def finished(procs: list[subprocess.Popen]) -> None:
  outs = [p.communicate(timeout=600) for p in procs]
  assert [p.returncode for p in procs] == [0] * len(procs), outs[0][1][-2000:]


def run_rows(workdir: str) -> list[list[dict]]:
  from fedjax_sim.rundir import runlog
  return [[{k: v for k, v in row.items() if k not in ('time', 'rounds_per_sec')}
           for row in runlog.read_jsonl(os.path.join(workdir, name))]
          for name in (runlog.METRICS, runlog.CLIENT_NORMS)]


def final_leaves(workdir: str, rounds: int) -> list[np.ndarray]:
  """The arrays of a run's final checkpoint, read on this process's CPU (it
  may have been written by two processes)."""
  import jax
  import orbax.checkpoint as ocp
  path = os.path.join(workdir, 'checkpoints', str(rounds), 'default')
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  with ocp.StandardCheckpointer() as reader:
    like = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=cpu),
                        reader.metadata(path).item_metadata.tree)
    state = reader.restore(path, like)
  return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def test_two_processes_killed_in_a_checkpoint_resume_bit_identically(tmp_path):
  """Two processes with --workdir: one run extended from 4 to 6 rounds, one
  SIGKILLed (both processes) inside a checkpoint write and resumed, end with
  the same checkpoint, metrics and client rows, bit for bit; and equal to a
  single-process run to float tolerance (the cross-process all-reduce adds
  in another order)."""
  extended, killed, single = (str(tmp_path / name) for name in ('extended', 'killed', 'single'))
  finished(train_processes(extended, 4))
  finished(train_processes(extended, 6, resume=True))
  procs = train_processes(killed, 6)
  checkpoints = os.path.join(killed, 'checkpoints')
  deadline = time.time() + 600
  while not (os.path.isdir(os.path.join(checkpoints, '2'))
             and glob.glob(os.path.join(checkpoints, '*tmp*'))):  # a later write under way
    assert all(p.poll() is None for p in procs) and time.time() < deadline, 'ended unkilled'
    time.sleep(0.001)
  for p in procs:
    p.kill()
  for p in procs:
    p.wait()
  assert len(os.listdir(checkpoints)) < 7
  finished(train_processes(killed, 6, resume=True))
  assert run_rows(killed) == run_rows(extended)
  for a, b in zip(final_leaves(killed, 6), final_leaves(extended, 6), strict=True):
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
  finished(train_processes(single, 6, num=1))
  for a, b in zip(final_leaves(single, 6), final_leaves(killed, 6), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
