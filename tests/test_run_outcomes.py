"""Runs that trained nothing or diverged to a finite but huge loss must not
look like success (issue 28, items 2 and 3)."""

import math
import os
import subprocess
import sys

import pytest

from configs import default
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.errors import ConfigError, DivergedError
from fedjax_sim.run.divergence import (DivergenceSettings, LossWatch, Saved, loss_blew_up,
                                       round_ranges)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ('--config.rounds=2', '--config.eval_every=1', '--config.clients_per_round=4',
        '--config.model.name=logistic', '--config.model.options={}')


def train(*flags: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), *TINY,
                         *flags], capture_output=True, text=True, cwd='/', timeout=300)


def test_rounds_with_no_report_are_named_and_the_run_fails():
  result = train('--config.dropout.probability=1.0')
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 1, result.stderr
  assert any(line.startswith('warning: round') and 'no client reported' in line
             for line in lines), lines
  assert lines[-1].startswith('error: no client reported in any of the 2 round(s)'), lines
  assert 'Traceback' not in result.stderr


def test_huge_finite_loss_warns():
  result = train('--config.client.optimizer.learning_rate=1e5')
  assert result.returncode == 0, result.stderr
  warnings = [line for line in result.stderr.splitlines() if 'diverged' in line]
  assert len(warnings) == 1 and warnings[0].startswith('warning: round 1: test_loss'), \
      result.stderr


def test_loss_rule():
  chance = math.log(10)
  assert loss_blew_up(19763., 19763., 10, 100.)  # far above a uniform guess
  assert loss_blew_up(30., 0.2, 10, 100.)  # grew 150-fold, above ln 10
  assert loss_blew_up(0.5, 1e-3, 10, 100.) is None  # grew, but still a good loss
  assert loss_blew_up(0.9 * 100 * chance, 5., 10, 100.) is None
  assert loss_blew_up(1.1, 2.3, 10, 100.) is None


def test_stop_raises_and_warn_warns_once():
  warnings = []
  watch = LossWatch(DivergenceSettings(), 10, warnings.append)
  for r, loss in enumerate([2.3, 1e4, 2e4], 1):
    watch.see(r, loss, Saved(None, None))
  assert len(warnings) == 1 and warnings[0].startswith('warning: round 2:'), warnings
  stop = LossWatch(DivergenceSettings(action='stop'), 10, warnings.append)
  with pytest.raises(DivergedError, match='round 1: test_loss 10000 is'):
    stop.see(1, 1e4, Saved(None, None))


def test_round_ranges():
  assert round_ranges([4]) == 'round 4'
  assert round_ranges([1, 2, 3, 7, 9, 10]) == 'rounds 1-3, 7, 9-10'


def test_a_bad_divergence_setting_is_one_clear_error():
  config = default.get_config()
  config.divergence.action = 'halt'
  with pytest.raises(ConfigError, match=r"^divergence\.action must be one of \['warn', 'stop'\], "
                     r"got 'halt'$"):
    build_experiment(config)
