"""Multi-process runs on a streamed SQLite benchmark: both processes convert
the file into the same cache at once (the first store renamed into place
wins), each holds its block of a host population, and they train like one
process, bit for bit."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import xla_flags
from sqlite_fixtures import EMNIST_COUNTS, emnist_clients, write_benchmarks
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
  """Runs scripts/train.py in `num` processes on a host population, two
  devices in all."""
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags(f'--xla_force_host_platform_device_count={2 // num}')}
  args = [sys.executable, TRAIN, f'--config={config}', f'--config.rounds={rounds}',
          '--config.engine.population=host', '--progress=none', f'--workdir={workdir}']
  args += ['--resume'] if resume else []
  if num > 1:
    args += [f'--num_processes={num}', f'--coordinator_address=127.0.0.1:{port}']
  finished([subprocess.Popen(args + ([f'--process_id={i}'] if num > 1 else []),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env) for i in range(num)])


def test_two_processes_equal_one_process_on_streamed_sqlite(config, tmp_path):
  """Both processes convert the file at once; metrics, client rows and the
  final checkpoint (every client's state: the two processes' blocks of the
  host population, padded to equal rows) of the 2-process run equal a
  1-process run on as many devices, bit for bit."""
  multi, single = str(tmp_path / 'multi'), str(tmp_path / 'single')
  train(config, multi, 4)
  train(config, single, 4, num=1)
  assert [row['round'] for row in run_rows(single)[0]] == [2, 4]
  assert run_rows(multi) == run_rows(single)
  num_clients = len(EMNIST_COUNTS['train'])
  leaves, whole = final_leaves(multi, 4), final_leaves(single, 4)
  controls = [leaf for leaf in whole if leaf.shape[:1] == (num_clients,)]
  assert controls and any(np.any(c) for c in controls)  # SCAFFOLD's controls moved
  for a, b in zip(leaves, whole, strict=True):
    a = a[:num_clients] if b.shape[:1] == (num_clients,) else a
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


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
