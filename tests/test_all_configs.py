"""Every shipped config builds, trains a few rounds and compiles its round once
(the SQLite benchmark configs on tiny generated files, their models shrunk)."""

import contextlib
import glob
import importlib
import math
import os

import pytest
import tensorflow_datasets as tfds

from fedjax_sim.config import sweep as sweep_lib
from fedjax_sim.config import train as train_lib
from fedjax_sim.config.sweep_train import sweep
from fedjax_sim.data.benchmark_data import BENCHMARKS
from sqlite_fixtures import shrink, write_benchmarks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'configs', '*.py'))
               if not p.endswith('__init__.py'))


@pytest.fixture(scope='session')
def benchmarks(tmp_path_factory):
  return write_benchmarks(tmp_path_factory.mktemp('benchmarks'))


@pytest.mark.parametrize('name', NAMES)
def test_config_runs_with_one_round_compilation(name, benchmarks, monkeypatch):
  config = importlib.import_module(f'configs.{name}').get_config()
  if config.data.name in BENCHMARKS:
    config = shrink(config, benchmarks)
  config.rounds, config.eval_every = 3, 3
  if sweep_lib.axes(config):  # a sweep: every member trains, as one program per group
    histories = sweep(config, log=lambda line: None)
    assert all(h[-1]['round'] == 3 and math.isfinite(h[-1]['test_loss']) for h in histories)
    return
  built, build = [], train_lib.build_experiment

  def build_and_keep(*args):
    built.append(build(*args))
    return built[-1]

  monkeypatch.setattr(train_lib, 'build_experiment', build_and_keep)
  # TFDS configs need a download: they run on TFDS's generated mock data here.
  with (tfds.testing.mock_data(num_examples=200) if config.data.name == 'tfds'
        else contextlib.nullcontext()):
    history = train_lib.train(config, log=lambda line: None)
  assert built[0].round_fn._cache_size() == 1
  assert history[-1]['round'] == 3 and math.isfinite(history[-1]['test_loss'])
