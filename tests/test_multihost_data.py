"""Multi-process runs on a streamed SQLite benchmark: both processes convert
the file into the same cache at once (the first store renamed into place
wins), train like one process, and resume a disk population bit for bit."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import xla_flags
from sqlite_fixtures import emnist_clients, write_benchmarks
from test_multihost import TRAIN, final_leaves, finished, free_port, run_rows

from fedjax_sim.data.client_store import build_store

# Reddi et al.'s EMNIST config with SCAFFOLD (clients keep state) and
# logistic regression, on `write_benchmarks`'s tiny files.
CONFIG = '''
from configs import reddi_emnist_cr


def get_config(path):
  config = reddi_emnist_cr.get_config(path)
  config.algorithm = 'scaffold'
  config.model.name, config.model.options = 'logistic', {}
  config.clients_per_round = config.eval_clients = 2
  config.eval_every = config.checkpoint.every = 2
  return config
'''


@pytest.fixture(scope='module')
def config(tmp_path_factory) -> str:
  """The `--config` flag of the tiny SCAFFOLD run (its store cache is new)."""
  root = tmp_path_factory.mktemp('multihost_data')
  path = root / 'tiny_emnist.py'
  path.write_text(CONFIG)
  return f'{path}:{os.path.join(write_benchmarks(root), "emnist")}'


def train(config: str, workdir: str, rounds: int, num: int = 2, resume: bool = False) -> None:
  """Runs scripts/train.py in `num` processes on a disk population."""
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2')}
  args = [sys.executable, TRAIN, f'--config={config}', f'--config.rounds={rounds}',
          '--config.engine.population=disk', '--progress=none', f'--workdir={workdir}']
  args += ['--resume'] if resume else []
  if num > 1:
    args += [f'--num_processes={num}', f'--coordinator_address=127.0.0.1:{port}']
  finished([subprocess.Popen(args + ([f'--process_id={i}'] if num > 1 else []),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env) for i in range(num)])


def client_states(directory: str) -> list[np.ndarray]:
  """Every client's state, leaf by leaf, from a disk population's files."""
  return [np.load(path) for path in sorted(glob.glob(os.path.join(directory, 'leaf-*.npy')))]


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory) -> str:
  """The workdir of a 4-round 2-process run, the first to open the files."""
  workdir = str(tmp_path_factory.mktemp('uninterrupted') / 'run')
  train(config, workdir, 4)
  return workdir


def test_two_processes_equal_one_process_on_streamed_sqlite(config, uninterrupted, tmp_path):
  """Metrics, final checkpoint and client states of the 2-process run (4
  devices) equal a 1-process run (2 devices) to float tolerance: the
  cross-process all-reduce adds the partial sums in another order."""
  single = str(tmp_path / 'single')
  train(config, single, 4, num=1)
  (multi_metrics, multi_clients), (metrics, clients) = run_rows(uninterrupted), run_rows(single)
  assert [row['round'] for row in multi_metrics] == [row['round'] for row in metrics] == [2, 4]
  for a, b in zip(multi_metrics + multi_clients, metrics + clients, strict=True):
    assert a.keys() == b.keys() and a.get('clients') == b.get('clients')
    for key in a:
      np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
  for a, b in zip(final_leaves(uninterrupted, 4), final_leaves(single, 4), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  population = os.path.join(uninterrupted, 'population')
  states = client_states(os.path.join(population, 'process-0'))
  assert states and np.any(states[0])  # SCAFFOLD's controls moved
  for a, b in zip(states, client_states(os.path.join(single, 'population')), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_two_processes_disk_population_extended_bit_identically(config, uninterrupted,
                                                                tmp_path):
  """A finished 2-round run extended to 4 rounds equals the uninterrupted
  4-round run bit for bit: metrics, client records, checkpoint, and each
  process's full copy of the client states."""
  extended = str(tmp_path / 'extended')
  train(config, extended, 2)
  train(config, extended, 4, resume=True)
  assert run_rows(extended) == run_rows(uninterrupted)
  for a, b in zip(final_leaves(extended, 4), final_leaves(uninterrupted, 4), strict=True):
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
  for process in ('process-0', 'process-1'):
    paths = [os.path.join(run, 'population', process) for run in (extended, uninterrupted)]
    pairs = list(zip(*map(client_states, paths), strict=True))
    assert pairs and all(a.tobytes() == b.tobytes() for a, b in pairs)


def test_a_store_renamed_into_place_during_a_conversion_is_opened(tmp_path):
  """Two conversions of the same data at once: the one that finishes second
  opens the first one's store and leaves no build directory behind."""
  directory, clients = str(tmp_path / 'store'), emnist_clients((2, 3), seed=0)

  def converted_meanwhile():
    items = iter(clients.items())
    yield next(items)
    build_store(directory, clients.items(), {'by': 'the other process'})
    yield from items

  store = build_store(directory, converted_meanwhile(), {'by': 'this process'})
  assert store.meta['by'] == 'the other process'
  assert os.listdir(tmp_path) == ['store']
  np.testing.assert_array_equal(store.gather([1]).examples['pixels'][0, :3],
                                clients['f0001_00']['pixels'])
