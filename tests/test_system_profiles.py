"""How fast clients work and upload on the virtual clock: system profiles
drawn lognormal with the given means, a profiles file overriding them, and
its bad rows as one clear error."""

import numpy as np
import pytest

from fedjax_sim.behaviour import system_profiles
from fedjax_sim.errors import ConfigError


def write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


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
