"""Two CPU processes on loopback (jax.distributed, gloo collectives), one
device each, keep a run directory and each hold their block of a disk
population: extended, killed inside a checkpoint and resumed, they end bit
for bit like one uninterrupted process with two devices
(tests/test_multihost_data.py: a host population on streamed SQLite)."""

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
  `workdir`, two devices in all."""
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags(f'--xla_force_host_platform_device_count={2 // num}')}
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


def population_rows(workdir: str, processes: int) -> list[np.ndarray]:
  """The disk population's leaves, each process's block joined in order."""
  folders = ([os.path.join(workdir, 'population', f'process-{p}') for p in range(processes)]
             if processes > 1 else [os.path.join(workdir, 'population')])
  blocks = [[np.load(f) for f in sorted(glob.glob(os.path.join(d, 'leaf-*.npy')))]
            for d in folders]
  assert blocks[0]
  return [np.concatenate(parts) for parts in zip(*blocks, strict=True)]


def test_two_processes_killed_in_a_checkpoint_resume_like_one_process(tmp_path):
  """Two processes with --workdir and a disk population (each process holds
  half the clients' states) train 2 rounds, are extended to 6 and SIGKILLed
  (both) inside a checkpoint write, and resume: metrics, client rows, the
  final checkpoint and every client's state equal an uninterrupted
  one-process run on as many devices, bit for bit; only process 0 prints."""
  multi, single = str(tmp_path / 'multi'), str(tmp_path / 'single')
  finished(train_processes(single, 6, num=1))
  first, other = finished(train_processes(multi, 2))
  assert re.search(r'^round +2 ', first, re.M) and not re.search(r'^round ', other, re.M)
  procs = train_processes(multi, 6, resume=True)
  checkpoints = os.path.join(multi, 'checkpoints')
  deadline = time.time() + 600
  while not glob.glob(os.path.join(checkpoints, '*tmp*')):  # a write after round 2 under way
    assert all(p.poll() is None for p in procs) and time.time() < deadline, 'ended unkilled'
    time.sleep(0.001)
  for p in procs:
    p.kill()
  for p in procs:
    p.wait()
  assert not os.path.isdir(os.path.join(checkpoints, '6'))
  finished(train_processes(multi, 6, resume=True))
  assert run_rows(multi) == run_rows(single)
  for a, b in zip(final_leaves(multi, 6), final_leaves(single, 6), strict=True):
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
  blocks = np.load(sorted(glob.glob(os.path.join(multi, 'population', 'process-1',
                                                 'leaf-*.npy')))[0])
  joined, whole = population_rows(multi, 2), population_rows(single, 1)
  assert len(blocks) < len(whole[0])  # each process holds its block only
  for a, b in zip(joined, whole, strict=True):
    assert a[:len(b)].tobytes() == b.tobytes()
