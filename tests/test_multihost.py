"""Two CPU processes on loopback (jax.distributed, gloo collectives), each with
two devices, keep a run directory: killed inside a checkpoint and resumed,
or extended, they end bit for bit alike (tests/test_multihost_data.py
compares them with one process)."""

import glob
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
from conftest import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'scripts', 'train.py')
SCAFFOLD = os.path.join(ROOT, 'configs', 'scaffold.py')  # clients keep state


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def train_processes(workdir: str, rounds: int, resume: bool = False, num: int = 2
                    ) -> list[subprocess.Popen]:
  """`num` processes of scripts/train.py (SCAFFOLD) on a disk population with
  `workdir`."""
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2')}
  args = [sys.executable, TRAIN, f'--config={SCAFFOLD}', f'--config.rounds={rounds}',
          '--config.eval_every=2', '--config.checkpoint.every=1', '--config.engine.population=disk',
          '--progress=lines', f'--workdir={workdir}'] + (['--resume'] if resume else [])
  if num > 1:
    args += [f'--num_processes={num}', f'--coordinator_address=127.0.0.1:{port}']
  return [subprocess.Popen(args + ([f'--process_id={i}'] if num > 1 else []),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
          for i in range(num)]


def finished(procs: list[subprocess.Popen]) -> list[str]:
  """The processes' standard outputs, once all exited 0."""
  outs = [p.communicate(timeout=600) for p in procs]
  assert [p.returncode for p in procs] == [0] * len(procs), outs[0][1][-2000:]
  return [out for out, _ in outs]


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
  """Two processes with --workdir and a disk population (each process its
  own copy): one run extended from 4 to 6 rounds, one SIGKILLed (both
  processes) inside a checkpoint write and resumed, end with the same
  checkpoint, metrics, client rows and client-state files, bit for bit;
  only process 0 prints."""
  extended, killed = str(tmp_path / 'extended'), str(tmp_path / 'killed')
  first, other = finished(train_processes(extended, 4))
  assert re.search(r'^round +4 ', first, re.M) and not re.search(r'^round ', other, re.M)
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
  for process in ('process-0', 'process-1'):
    files = [sorted(glob.glob(os.path.join(run, 'population', process, 'leaf-*.npy')))
             for run in (killed, extended)]
    assert files[0] and [np.load(f).tobytes() for f in files[0]] == [
        np.load(f).tobytes() for f in files[1]]
