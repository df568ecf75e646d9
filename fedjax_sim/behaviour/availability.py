"""Which clients can be sampled at a point of the virtual clock.

`availability.kind`:
  'always':  every client, every round (the default);
  'iid':     each client independently with `probability`, drawn per round;
  'diurnal': each client is online for a `fraction` of every `period`
             virtual seconds (a day by default), from its own phase (uniform,
             drawn from the seed): phones charging at night, in every time zone;
  'trace':   the intervals of `trace_file`, a CSV with columns
             `client,start,end` (virtual seconds, end > start); clients
             without a row are never available; `trace_period` > 0 repeats
             the trace (a one-week trace, say).
All of it is a function of the seed, the round and the client (and the
virtual time, itself a function of those), so resumed runs see the same
clients.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.core import rules as settings_lib
from fedjax_sim.rundir import table_files
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.core.rules import is_int, is_number

KINDS = ('always', 'iid', 'diurnal', 'trace')
SEED_TAG = 0xA7A1  # the diurnal phases' numpy stream
KEY_TAG = 3  # iid draws: fold_in(sample_key, KEY_TAG)

# `(time at the round's start, the round's sample key) -> bool [num_clients]`
Available = Callable[[vt.VirtualTime, jax.Array], jax.Array]


class Settings(NamedTuple):
  """The `availability` config section."""

  kind: str = 'always'
  probability: float = 1.  # iid
  period: int = 86400  # diurnal: virtual seconds of one day
  fraction: float = 0.5  # diurnal: share of the period each client is online
  trace_file: str = ''  # trace
  trace_period: int = 0  # trace: repeat every this many virtual seconds (0: never)


RULES: dict[str, tuple[settings_lib.Rule, ...]] = {  # the fields each kind reads
    'iid': (('probability', lambda v: is_number(v) and 0 < v <= 1, 'a number in (0, 1]'),),
    'diurnal': (
        ('period', lambda v: is_int(v) and v >= 1, 'a whole number of virtual seconds >= 1'),
        ('fraction', lambda v: is_number(v) and 0 < v <= 1, 'a number in (0, 1]')),
    'trace': (
        ('trace_file', lambda v: isinstance(v, str) and bool(v),
         'the path of a CSV file with columns client,start,end'),
        ('trace_period', lambda v: is_int(v) and v >= 0,
         'a whole number of virtual seconds >= 0 (0: the trace does not repeat)')),
}


def _check(s: Settings) -> None:
  settings_lib.check('availability', s, [('kind', lambda v: v in KINDS,
                                          f'one of {list(KINDS)}')])
  settings_lib.check('availability', s, RULES.get(s.kind, ()))


def build(settings: Settings, num_clients: int, seed: int) -> Available | None:
  """The availability function of `settings`, or None for 'always'."""
  _check(settings)
  if settings.kind == 'always':
    return None
  if settings.kind == 'iid':
    return lambda time, key: jax.random.uniform(
        jax.random.fold_in(key, KEY_TAG), (num_clients,)) < settings.probability
  if settings.kind == 'diurnal':
    phase = np.random.default_rng([seed, SEED_TAG]).random(num_clients).astype(np.float32)
    return _diurnal(settings.period, settings.fraction, jnp.asarray(phase))
  return _trace(*read_trace(settings.trace_file, num_clients, settings.trace_period),
                settings.trace_period, num_clients)


def _diurnal(period: int, fraction: float, phase: jax.Array) -> Available:
  def available(time: vt.VirtualTime, key: jax.Array) -> jax.Array:
    del key
    position = vt.modulo(time, period) / period + phase  # in [0, 2)
    return position - jnp.floor(position) < fraction
  return available


def read_trace(path: str, num_clients: int, period: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The trace's (client, start, end) columns, checked row by row."""
  field = 'availability.trace_file'
  table = table_files.read(field, path, ('client', 'start', 'end'))
  clients = table_files.client_ids(table, field, path, num_clients)
  start, end = table.columns['start'], table.columns['end']
  checks = [(start < 0, 'start must be >= 0'), (end <= start, 'end must be > start'),
            (end >= 2.**31, 'end must be below 2**31 virtual seconds')]
  if period:
    checks.append((end > period, f'end must be <= availability.trace_period={period}'))
  for bad, message in checks:
    rows = np.flatnonzero(bad)
    if rows.size:
      k = rows[0]
      raise table.error(field, path, k, f'{message}, got start={start[k]:g}, end={end[k]:g}')
  return clients, start, end


def _trace(clients: np.ndarray, start: np.ndarray, end: np.ndarray, period: int,
           num_clients: int) -> Available:
  starts, ends = vt.split(start), vt.split(end)
  clients = jnp.asarray(clients, jnp.int32)

  def available(time: vt.VirtualTime, key: jax.Array) -> jax.Array:
    del key
    if period:
      time = vt.VirtualTime(time.seconds % period, time.fraction)
    inside = (vt.since(time, *starts) >= 0) & (vt.since(time, *ends) < 0)
    return jnp.zeros(num_clients, bool).at[clients].max(inside)
  return available
