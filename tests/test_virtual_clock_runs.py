"""Runs on the virtual clock against runs without it: a clock that changes
nothing gives the same run bit for bit, and runs on it are deterministic and
resume exactly; and the clock's settings, read from the config with their
defaults, bad ones refused before training."""

import os

import ml_collections
import pytest

from configs import default
from fedjax_sim.behaviour import clock as virtual_clock
from fedjax_sim.behaviour import system_profiles
from fedjax_sim.config.sections import from_section
from fedjax_sim.config.train import train
from fedjax_sim.errors import ConfigError
from fedjax_sim.rundir import runlog


@pytest.mark.parametrize('section,field,value,message', [
    ('clock', 'deadline', -1., 'clock.deadline must be a number of virtual seconds in [0, 1e'),
    ('clock', 'late', 'sometimes', "clock.late must be one of ['auto', 'partial', 'drop']"),
    ('clock', 'over_selection', 10., 'selects 110 clients per round, more than the 20'),
    ('clock', 'deadlin', 3., 'clock.deadlin is not a setting of clock (its settings: '
     'deadline, late, over_selection, idle_wait)'),
    ('availability', 'kind', 'weekly', "availability.kind must be one of ['always', 'iid'"),
    ('system', 'speed', 0., 'system.speed must be a number > 0, got 0.0'),
])
def test_bad_clock_settings_are_refused_before_training(section, field, value, message):
  config = default.get_config()
  config[section] = ml_collections.ConfigDict({field: value})
  with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace('(', r'\(')
                     .replace(')', r'\)')):
    train(config, log=lambda line: None, progress='none')


def test_from_section_fills_defaults_and_keeps_given_values():
  config = ml_collections.ConfigDict({'clock': {'deadline': 5.}})
  assert from_section(config, 'clock', virtual_clock.Settings) == \
      virtual_clock.Settings(deadline=5.)
  assert from_section(config, 'system', system_profiles.Settings) == \
      system_profiles.Settings()


@pytest.mark.parametrize('field,value', [('deadline', None), ('idle_wait', 'soon'),
                                          ('over_selection', None)])
def test_wrong_types_are_one_clear_error(field, value):
  config = default.get_config()
  config.clock = ml_collections.ConfigDict({field: value}, type_safe=False)
  with pytest.raises(ConfigError, match=f'clock.{field} must be'):
    train(config, log=lambda line: None, progress='none')


def test_dp_accounting_refuses_availability_and_over_selection():
  config = default.get_config()
  config.aggregator = ml_collections.ConfigDict({'name': 'dp'})
  config.clock.over_selection = 0.3
  with pytest.raises(ConfigError, match="clock.over_selection=0.3 is not supported with "
                     "aggregator.name='dp'"):
    train(config, log=lambda line: None, progress='none')


def quick(**sections):
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = 4, 2, 5
  for name, values in sections.items():
    config[name] = ml_collections.ConfigDict(values)
  return config


def history(config, **kw):
  return train(config, log=lambda line: None, progress='none', **kw)


def without(rows, *keys):
  volatile = {'time', 'rounds_per_sec', *keys}
  return [{k: v for k, v in row.items() if k not in volatile} for row in rows]


def test_a_clock_that_changes_nothing_gives_todays_run_bit_for_bit():
  plain = history(quick())
  # Slow, uneven devices and a deadline nobody misses: the same training.
  timed = history(quick(system={'speed': 0.5, 'speed_sigma': 1., 'bandwidth': 1e6},
                        clock={'deadline': 1e7}))
  assert without(timed, 'virtual_time', 'round_seconds', 'reported_clients') == without(plain)
  assert timed[-1]['virtual_time'] > timed[0]['virtual_time'] > 0
  assert timed[-1]['reported_clients'] == 5


def test_runs_on_the_clock_are_deterministic_and_resume_exactly(tmp_path):
  sections = dict(availability={'kind': 'diurnal', 'period': 400, 'fraction': 0.4},
                  system={'speed': 1., 'speed_sigma': 0.7},
                  clock={'deadline': 6., 'late': 'partial', 'over_selection': 0.4},
                  stragglers={'fraction': 0.2}, dropout={'probability': 0.1})
  straight = history(quick(**sections), workdir=str(tmp_path / 'straight'))
  assert without(history(quick(**sections))) == without(straight)
  first = quick(**sections)
  first.rounds = 2
  history(first, workdir=str(tmp_path / 'resumed'))
  history(quick(**sections), workdir=str(tmp_path / 'resumed'), resume=True)
  rows = {name: runlog.read_jsonl(os.path.join(tmp_path, name, runlog.METRICS))
          for name in ('straight', 'resumed')}
  assert without(rows['resumed']) == without(rows['straight'])
  assert 0 < rows['straight'][-1]['reported_clients'] <= 5
  norms = {name: runlog.read_jsonl(os.path.join(tmp_path, name, runlog.CLIENT_NORMS))
           for name in ('straight', 'resumed')}
  assert norms['resumed'] == norms['straight']
  assert [r['virtual_time'] for r in norms['straight']] == sorted(
      r['virtual_time'] for r in norms['straight'])
