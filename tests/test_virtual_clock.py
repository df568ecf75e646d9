"""The virtual clock (issue 16): deadlines, over-selection, available
clients and each round's virtual duration, against hand-worked schedules,
and the virtual time's precision. Availability, system profiles and runs on
the clock are in test_availability.py, test_system_profiles.py and
test_virtual_clock_runs.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.behaviour import system_profiles
from fedjax_sim.behaviour import clock as virtual_clock
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError

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


def test_virtual_time_keeps_sub_second_precision_over_many_rounds():
  durations = np.random.default_rng(0).lognormal(3., 1., 200000).astype(np.float32)
  step = jax.jit(lambda t, d: jax.lax.fori_loop(
      0, d.shape[0], lambda i, t: vt.advance(t, d[i]), t))
  end = step(vt.zero(), jnp.asarray(durations))
  exact = float(np.sum(durations.astype(np.float64)))
  assert exact > 5e6  # past where a float32 total loses whole seconds
  assert abs(vt.to_float(end) - exact) < 0.05
