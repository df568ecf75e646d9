"""The virtual clock (issue 16): availability, system profiles, deadlines,
over-selection and each round's virtual duration, against hand-worked
schedules and float64 references; and runs on the clock against runs
without it."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import default
from fedjax_sim.behaviour import availability
from fedjax_sim.rundir import runlog
from fedjax_sim.behaviour import system_profiles
from fedjax_sim.behaviour import clock as virtual_clock
from fedjax_sim.config.sections import from_section
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.train import train

KEY = jax.random.PRNGKey(0)


def clock(speeds, counts, uploads=None, cpr=None, available=None, behaviour=None,
          **clock_settings):
  """A clock over len(speeds) clients of `counts` examples, one step per
  example (batch 1, one epoch)."""
  n = len(speeds)
  profiles = system_profiles.Profiles(np.asarray(speeds, np.float32),
                                      np.asarray(uploads or [0.] * n, np.float32))
  plan = plan_batches(max(counts), 1, 1, 0)
  built = virtual_clock.build(
      virtual_clock.Settings(**clock_settings), profiles=profiles, available=available,
      behaviour=behaviour, plan=plan, num_clients=n, clients_per_round=cpr or n,
      partial_by_default=False)
  return built, jnp.asarray(counts, jnp.int32)


def by_client(schedule):
  """{client id: (budget, reported)} of a schedule."""
  ids = np.asarray(schedule.ids)
  return {int(c): (int(b), bool(r)) for c, b, r in zip(
      ids, schedule.behaviour['step_budgets'], schedule.behaviour['reported'])}


def test_without_a_deadline_the_round_lasts_until_the_slowest_report():
  c, counts = clock([1., 2., 4., 8.], [8, 8, 8, 4], uploads=[0., 0., 0.5, 10.])
  s = c.step(vt.zero(), KEY, counts)
  assert s.behaviour == {}  # nothing to change: full work for everyone
  # finish times 8, 4, 2.5, 10.5 (the last one's upload is slow)
  assert float(s.duration) == 10.5 and vt.to_float(s.end) == 10.5


@pytest.mark.parametrize('late,budgets,reported', [
    ('partial', {0: 3, 1: 6, 2: 8, 3: 2}, {0: True, 1: True, 2: True, 3: True}),
    ('drop', {0: 0, 1: 0, 2: 8, 3: 0}, {0: False, 1: False, 2: True, 3: False}),
])
def test_a_deadline_cuts_work_or_drops_the_late(late, budgets, reported):
  # speeds 1, 2, 4, 1 steps/s, 8 steps each, client 3 uploads for 1 s;
  # deadline 3 s: client 0 manages 3 steps, client 1 six, client 2 all 8 (at
  # 2 s), client 3 two (2 s of work + 1 s of upload).
  c, counts = clock([1., 2., 4., 1.], [8, 8, 8, 8], uploads=[0., 0., 0., 1.],
                    deadline=3., late=late)
  s = by_client(c.step(vt.zero(), KEY, counts))
  assert {k: v[0] for k, v in s.items()} == budgets
  assert {k: v[1] for k, v in s.items()} == reported


def test_a_late_client_that_cannot_upload_in_time_is_dropped_even_when_partial():
  c, counts = clock([1., 1.], [8, 8], uploads=[0., 5.], deadline=3., late='partial')
  s = c.step(vt.zero(), KEY, counts)
  assert by_client(s) == {0: (3, True), 1: (0, False)}
  assert float(s.duration) == 3.


def test_a_round_without_late_clients_closes_before_the_deadline():
  c, counts = clock([2., 4.], [8, 8], deadline=10.)
  s = c.step(vt.zero(), KEY, counts)
  assert float(s.duration) == 4. and by_client(s) == {0: (8, True), 1: (8, True)}


def test_over_selection_keeps_the_first_reports_and_closes_at_the_last_kept():
  # 4 selected for 2: finish times 8, 4, 2, 16; the two first (clients 2 and
  # 1) are kept, the round closes at 4 s, the others' work is discarded.
  c, counts = clock([1., 2., 4., 0.5], [8, 8, 8, 8], cpr=2, over_selection=1.)
  assert c.selected == 4
  s = c.step(vt.zero(), KEY, counts)
  assert by_client(s) == {0: (0, False), 1: (8, True), 2: (8, True), 3: (0, False)}
  assert float(s.duration) == 4.


def test_over_selection_waits_for_everyone_when_too_few_report():
  def two_drop_out(key, ids, counts):  # clients 0 and 1 drop out after 1 step
    out = jnp.isin(ids, jnp.asarray([0, 1]))
    return jnp.where(out, 1, 8), ~out
  c, counts = clock([1., 1., 2., 4.], [8, 8, 8, 8], cpr=3, over_selection=1 / 3,
                    behaviour=two_drop_out)
  s = c.step(vt.zero(), KEY, counts)
  assert by_client(s) == {0: (1, False), 1: (1, False), 2: (8, True), 3: (8, True)}
  assert float(s.duration) == 4.  # the last report; the dropouts left at 1 s


def test_the_clock_samples_only_available_clients():
  # At t=0 only clients 2, 5 and 7 are online; 5 are selected, so two
  # slots go to offline clients, which neither train nor report.
  online = lambda time, key: jnp.isin(jnp.arange(10), jnp.asarray([2, 5, 7]))  # noqa: E731
  c, counts = clock([1.] * 10, [4] * 10, cpr=5, available=online)
  for seed in range(5):
    s = by_client(c.step(vt.zero(), jax.random.PRNGKey(seed), counts))
    assert len(s) == 5 and {2, 5, 7} <= set(s)
    assert {k for k, (b, r) in s.items() if r} == {2, 5, 7}
    assert all(b == 0 for k, (b, r) in s.items() if k not in (2, 5, 7))


def test_a_round_with_nobody_available_waits_idle_wait():
  nobody = lambda time, key: jnp.zeros(4, bool)  # noqa: E731
  c, counts = clock([1.] * 4, [4] * 4, cpr=2, available=nobody, idle_wait=90.)
  s = c.step(vt.VirtualTime(jnp.int32(100), jnp.float32(0.25)), KEY, counts)
  assert not np.any(s.behaviour['reported']) and float(s.duration) == 90.
  assert vt.to_float(s.end) == 190.25


def test_diurnal_availability_matches_a_float64_reference():
  period, fraction, n = 1000, 0.3, 50
  available = availability.build(
      availability.Settings(kind='diurnal', period=period, fraction=fraction), n, seed=3)
  phase = np.random.default_rng([3, availability.SEED_TAG]).random(n)
  rng = np.random.default_rng(0)
  disagree, checked = 0, 0
  for t in np.concatenate([rng.uniform(0, 10 * period, 200), [0., 999.5, 5e6 + 0.75]]):
    time = vt.VirtualTime(jnp.int32(np.floor(t)), jnp.float32(t - np.floor(t)))
    got = np.asarray(available(time, KEY))
    position = (t % period) / period + np.float32(phase)
    want = position - np.floor(position) < fraction
    near_edge = np.minimum(np.abs(position % 1 - fraction), position % 1) < 1e-5
    disagree += int(np.sum((got != want) & ~near_edge))
    checked += n
  assert disagree == 0 and checked > 10000
  # about `fraction` of the clients are online at any time
  share = np.mean([np.mean(available(vt.VirtualTime(jnp.int32(t), jnp.float32(0)), KEY))
                   for t in range(0, period, 10)])
  assert abs(share - fraction) < 0.03


def test_iid_availability_is_drawn_per_round_from_the_key():
  available = availability.build(availability.Settings(kind='iid', probability=0.25),
                                 2000, seed=0)
  a, b = (np.asarray(available(vt.zero(), jax.random.PRNGKey(k))) for k in (1, 2))
  assert abs(a.mean() - 0.25) < 0.03 and abs(b.mean() - 0.25) < 0.03
  assert np.mean(a == b) < 0.75  # independent rounds
  assert np.array_equal(a, np.asarray(available(vt.zero(), jax.random.PRNGKey(1))))


def write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_trace_availability_matches_its_intervals(tmp_path):
  path = write(tmp_path, 'trace.csv', 'client,start,end\n0,0,10\n0,20,30.5\n2,5,25\n3,0,40\n')
  for period in (0, 40):
    available = availability.build(
        availability.Settings(kind='trace', trace_file=path, trace_period=period), 4, seed=0)
    for t in [0, 4.5, 5, 9.99, 10, 19.5, 20, 25, 30.25, 30.5, 39.9] + ([40, 45, 62] if period else
                                                                       [40, 45]):
      tt = t % period if period else t
      want = [(0 <= tt < 10) or (20 <= tt < 30.5), False, 5 <= tt < 25, tt < 40]
      time = vt.VirtualTime(jnp.int32(int(np.floor(t))), jnp.float32(t - np.floor(t)))
      assert list(np.asarray(available(time, KEY))) == want, (period, t)


@pytest.mark.parametrize('text,message', [
    ('', "the file is empty"),
    ('client,begin,end\n0,1,2\n', "line 1: the header must name the columns client,start,end"),
    ('client,start,end\n0,1\n', "line 2: expected 3 values"),
    ('client,start,end\n0,1,2\n1,x,4\n', "line 3: start must be a finite number, got 'x'"),
    ('client,start,end\n0,1,nan\n', "line 2: end must be a finite number, got 'nan'"),
    ('client,start,end\n0,5,5\n', 'line 2: end must be > start, got start=5, end=5'),
    ('client,start,end\n\n0,-1,5\n', 'line 3: start must be >= 0'),
    ('client,start,end\n7,1,5\n', 'line 2: client must be an integer id in [0, 4), got 7'),
    ('client,start,end\n1.5,1,5\n', 'line 2: client must be an integer id in [0, 4), got 1.5'),
    ('client,start,end\n', 'no rows after the header'),
])
def test_bad_trace_rows_are_one_clear_error(tmp_path, text, message):
  path = write(tmp_path, 'trace.csv', text)
  with pytest.raises(ConfigError) as error:
    availability.build(availability.Settings(kind='trace', trace_file=path), 4, seed=0)
  assert str(error.value).startswith(f'availability.trace_file={path!r}')
  assert message in str(error.value)
  assert '\n' not in str(error.value)


def test_trace_rows_beyond_the_trace_period_and_missing_files_are_refused(tmp_path):
  path = write(tmp_path, 'trace.csv', 'client,start,end\n0,1,50\n')
  with pytest.raises(ConfigError, match=r'line 2: end must be <= availability.trace_period=40'):
    availability.build(availability.Settings(kind='trace', trace_file=path, trace_period=40),
                       4, seed=0)
  with pytest.raises(ConfigError, match=r"trace_file='/nope.csv': no such file"):
    availability.build(availability.Settings(kind='trace', trace_file='/nope.csv'), 4, seed=0)


def test_profiles_are_lognormal_with_the_given_means_and_a_file_overrides(tmp_path):
  s = system_profiles.Settings(speed=5., speed_sigma=0.5, bandwidth=1000., bandwidth_sigma=1.)
  p = system_profiles.draw(s, 20000, seed=1, upload_bytes=4000)
  assert abs(p.speed.mean() / 5. - 1) < 0.02
  assert abs(np.std(np.log(p.speed)) - 0.5) < 0.01
  assert abs(np.median(p.upload_seconds) - 4000 / (1000 * np.exp(-0.5))) < 0.1
  same = system_profiles.draw(s, 20000, seed=1, upload_bytes=4000)
  assert np.array_equal(p.speed, same.speed)
  path = write(tmp_path, 'p.csv', 'client,speed,bandwidth\n3,0.5,100\n0,2,0\n')
  q = system_profiles.draw(s._replace(file=path), 5, seed=1, upload_bytes=4000)
  assert q.speed[3] == 0.5 and q.upload_seconds[3] == 40. and q.speed[0] == 2.
  assert q.upload_seconds[0] == 0.  # bandwidth 0: no upload time
  plain = system_profiles.draw(system_profiles.Settings(), 3, seed=0, upload_bytes=10)
  assert list(plain.speed) == [1.] * 3 and list(plain.upload_seconds) == [0.] * 3


@pytest.mark.parametrize('text,message', [
    ('client,speed\n0,0\n', 'line 2: speed must be > 0, got 0'),
    ('client,speed\n0,1\n0,2\n', 'line 3: client 0 is listed twice'),
    ('client,speed,bandwidth\n0,1,-3\n', 'line 2: bandwidth must be >= 0, got -3'),
    ('client,speed,extra\n0,1,2\n', 'line 1: the header must name the columns client,speed'),
])
def test_bad_profile_rows_are_one_clear_error(tmp_path, text, message):
  path = write(tmp_path, 'p.csv', text)
  with pytest.raises(ConfigError, match=f'system.file=.*{message}'):
    system_profiles.draw(system_profiles.Settings(file=path), 4, seed=0, upload_bytes=1)


def test_virtual_time_keeps_sub_second_precision_over_many_rounds():
  durations = np.random.default_rng(0).lognormal(3., 1., 200000).astype(np.float32)
  step = jax.jit(lambda t, d: jax.lax.fori_loop(
      0, d.shape[0], lambda i, t: vt.advance(t, d[i]), t))
  end = step(vt.zero(), jnp.asarray(durations))
  exact = float(np.sum(durations.astype(np.float64)))
  assert exact > 5e6  # past where a float32 total loses whole seconds
  assert abs(vt.to_float(end) - exact) < 0.05


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


def test_clients_without_data_are_never_counted_as_reports():
  # Over-selection must not fill the kept places with instant empty reports.
  c, counts = clock([1., 1., 2.], [0, 8, 8], cpr=1, over_selection=2.)
  s = c.step(vt.zero(), KEY, counts)
  assert by_client(s) == {0: (0, False), 1: (0, False), 2: (8, True)}
  assert float(s.duration) == 4.
  nothing = clock([1., 1.], [0, 0], cpr=1, over_selection=1., idle_wait=30.)
  assert float(nothing[0].step(vt.zero(), KEY, nothing[1]).duration) == 30.


def test_a_round_that_could_overflow_the_clock_is_refused():
  with pytest.raises(ConfigError, match=r'the slowest client could take 8e\+09 virtual seconds'):
    clock([1e-9, 1.], [8, 8])
  clock([1e-9, 1.], [8, 8], deadline=100.)  # the deadline caps it


@pytest.mark.parametrize('field,value', [('deadline', None), ('idle_wait', 'soon'),
                                          ('over_selection', None)])
def test_wrong_types_are_one_clear_error(field, value):
  config = default.get_config()
  config.clock = ml_collections.ConfigDict({field: value}, type_safe=False)
  with pytest.raises(ConfigError, match=f'clock.{field} must be'):
    train(config, log=lambda line: None, progress='none')


def test_a_trace_saved_with_a_byte_order_mark_reads(tmp_path):
  path = tmp_path / 'trace.csv'
  path.write_bytes('\ufeffclient,start,end\n1,0,10\n'.encode('utf-8'))
  available = availability.build(availability.Settings(kind='trace', trace_file=str(path)),
                                 3, seed=0)
  assert list(np.asarray(available(vt.zero(), KEY))) == [False, True, False]


def test_dp_accounting_refuses_availability_and_over_selection():
  config = default.get_config()
  config.aggregator = ml_collections.ConfigDict({'name': 'dp'})
  config.clock.over_selection = 0.3
  with pytest.raises(ConfigError, match="clock.over_selection=0.3 is not supported with "
                     "aggregator.name='dp'"):
    train(config, log=lambda line: None, progress='none')
