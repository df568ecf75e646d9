"""Who is online on the virtual clock: diurnal availability against a float64
reference, i.i.d. availability drawn per round, and traces of online
intervals with their bad rows as one clear error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.behaviour import availability
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.errors import ConfigError

KEY = jax.random.PRNGKey(0)


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


def test_a_trace_saved_with_a_byte_order_mark_reads(tmp_path):
  path = tmp_path / 'trace.csv'
  path.write_bytes('\ufeffclient,start,end\n1,0,10\n'.encode('utf-8'))
  available = availability.build(availability.Settings(kind='trace', trace_file=str(path)),
                                 3, seed=0)
  assert list(np.asarray(available(vt.zero(), KEY))) == [False, True, False]
