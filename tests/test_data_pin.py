"""A run pins the content of its data files (issue 28, item 17): `--resume`
on a CSV whose contents changed since the run started is one clear error."""

import json
import os

import numpy as np
import pytest

from configs import hospitals
from fedjax_sim.config.train import train
from fedjax_sim.errors import ConfigError
from fedjax_sim.rundir import data_pin


def small_csv(path) -> str:
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=60), rng.normal(5., 2., size=60)
  rows = [f'h{i % 3},{float(a[i])!r},{float(b[i])!r},{"sick" if a[i] > 0 else "well"}' for i in range(60)]
  path.write_text('\n'.join(['hospital,a,b,outcome', *rows]) + '\n')
  return str(path)


def csv_config(path: str, rounds: int):
  config = hospitals.get_config()
  config.rounds, config.eval_every, config.clients_per_round = rounds, 1, 3
  config.data.path, config.data.label, config.data.client_column = path, 'outcome', 'hospital'
  return config


@pytest.fixture()
def finished_run(tmp_path):
  """A 2-round run on a small CSV, and its workdir."""
  path = small_csv(tmp_path / 'h.csv')
  workdir = str(tmp_path / 'run')
  train(csv_config(path, 2), log=lambda line: None, workdir=workdir)
  return path, workdir


def test_resume_on_changed_data_is_refused(finished_run):
  path, workdir = finished_run
  with open(path) as f:
    text = f.read()
  flipped = text.replace(',sick\n', ',tmp\n').replace(',well\n', ',sick\n').replace(',tmp\n',
                                                                                  ',well\n')
  with open(path, 'w') as f:
    f.write(flipped)  # labels flipped: the same size, other content
  with pytest.raises(ConfigError) as error:
    train(csv_config(path, 3), log=lambda line: None, workdir=workdir, resume=True)
  assert str(error.value) == (
      f"--resume: data.path={path!r} changed since the run in --workdir {workdir!r} started "
      f"(same size, other content (its SHA-256 differs); recorded in {workdir}/data_files.json); "
      'restore the file as it was, or train on it in a new --workdir')
  with open(path, 'w') as f:
    f.write(''.join(text.splitlines(keepends=True)[:-6]))  # rows dropped
  with pytest.raises(ConfigError, match=r'data\.path=.* changed since .* \(\d+ bytes when the '
                     r'run started, \d+ now; '):
    train(csv_config(path, 3), log=lambda line: None, workdir=workdir, resume=True)


def test_resume_on_unchanged_data_continues(finished_run):
  path, workdir = finished_run
  with open(os.path.join(workdir, data_pin.PINS)) as f:
    assert list(json.load(f)) == ['data.path']
  os.utime(path)  # touched, not changed
  history = train(csv_config(path, 3), log=lambda line: None, workdir=workdir, resume=True)
  assert [int(h['round']) for h in history] == [3]  # resumed after round 2


def test_a_run_that_pinned_nothing_pins_its_data_on_resume(finished_run):
  """Runs from before the pins are resumed, and pinned from then on."""
  path, workdir = finished_run
  os.remove(os.path.join(workdir, data_pin.PINS))
  train(csv_config(path, 3), log=lambda line: None, workdir=workdir, resume=True)
  assert data_pin.is_recorded(workdir)
