"""Each client's system profile on the virtual clock: compute speed (local
steps per virtual second) and upload time (the model's bytes over its
bandwidth).

The `system` config section draws speeds and bandwidths from log-normal
distributions with the given means (`speed_sigma = 0`, `bandwidth_sigma = 0`:
every client alike; `bandwidth = 0`: uploads take no time), as FedScale-style
simulators do. A CSV `file` with columns `client,speed` (and optionally
`bandwidth`) gives listed clients their own values. Profiles are a function
of the seed and the client only, so a resumed run sees the same devices.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fedjax_sim.core import rules as settings_lib
from fedjax_sim.rundir import table_files
from fedjax_sim.core.rules import is_number

SEED_TAG = 0x5157  # the profiles' numpy stream: default_rng([seed, SEED_TAG])


class Settings(NamedTuple):
  """The `system` config section."""

  speed: float = 1.  # mean local steps per virtual second
  speed_sigma: float = 0.  # log-normal spread of speeds across clients
  bandwidth: float = 0.  # mean upload bytes per virtual second (0: uploads are instant)
  bandwidth_sigma: float = 0.
  file: str = ''  # CSV `client,speed[,bandwidth]`: values for the listed clients


class Profiles(NamedTuple):
  """Per-client arrays, float32 `[num_clients]`."""

  speed: np.ndarray  # local steps per virtual second
  upload_seconds: np.ndarray  # virtual seconds to upload one model update


def check(settings: Settings) -> None:
  """A ConfigError naming the first bad field."""
  settings_lib.check('system', settings, [
      ('speed', lambda v: is_number(v) and v > 0, 'a number > 0'),
      ('speed_sigma', lambda v: is_number(v) and 0 <= v <= 3, 'a number in [0, 3]'),
      ('bandwidth', lambda v: is_number(v) and v >= 0,
       'a number >= 0 (0: uploads take no time)'),
      ('bandwidth_sigma', lambda v: is_number(v) and 0 <= v <= 3, 'a number in [0, 3]'),
      ('file', lambda v: isinstance(v, str), 'a path (or empty)')])


def _lognormal(rng: np.random.Generator, mean: float, sigma: float, n: int) -> np.ndarray:
  """`n` draws with mean `mean` (all `mean` when sigma is 0)."""
  return mean * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)


def draw(settings: Settings, num_clients: int, seed: int, upload_bytes: int) -> Profiles:
  """Every client's profile; `upload_bytes` is the size of one update."""
  check(settings)
  rng = np.random.default_rng([seed, SEED_TAG])
  speed = _lognormal(rng, settings.speed, settings.speed_sigma, num_clients)
  bandwidth = _lognormal(rng, settings.bandwidth, settings.bandwidth_sigma, num_clients)
  if settings.file:
    speed, bandwidth = _from_file(settings.file, num_clients, speed, bandwidth)
  upload = np.divide(upload_bytes, bandwidth, out=np.zeros(num_clients),
                     where=bandwidth > 0)
  return Profiles(speed.astype(np.float32), upload.astype(np.float32))


def _from_file(path: str, num_clients: int, speed: np.ndarray, bandwidth: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
  """`speed` and `bandwidth` with the file's rows in place."""
  field = 'system.file'
  table = table_files.read(field, path, ('client', 'speed'), ('bandwidth',))
  ids = table_files.client_ids(table, field, path, num_clients)
  seen = np.zeros(num_clients, bool)
  for row, client in enumerate(ids):
    if seen[client]:
      raise table.error(field, path, row, f'client {client} is listed twice')
    seen[client] = True
  for name, target in [('speed', speed), ('bandwidth', bandwidth)]:
    if name not in table.columns:
      continue
    values = table.columns[name]
    bad = np.flatnonzero(values <= 0 if name == 'speed' else values < 0)
    if bad.size:
      raise table.error(field, path, bad[0], f'{name} must be '
                        f'{"> 0" if name == "speed" else ">= 0"}, got {values[bad[0]]:g}')
    target[ids] = values
  return speed, bandwidth
