"""The `fedbuff` config section and the staleness factors."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from fedjax_sim.core import rules as settings_lib
from fedjax_sim.core.rules import is_int, is_number

STALENESS = ('constant', 'polynomial', 'hinge')


class Settings(NamedTuple):
  """The `fedbuff` config section; `buffer_size=0` is synchronous FL."""

  buffer_size: int = 0  # K: reports per server update (1: FedAsync)
  concurrency: int = 0  # clients in flight (0: clients_per_round)
  staleness: str = 'polynomial'
  exponent: float = 0.5  # polynomial: the power; hinge: the slope a
  hinge: int = 10  # hinge: staleness without discount (b)


def check(settings: Settings, clients_per_round: int, num_clients: int) -> Settings:
  """`settings` with `concurrency` resolved; ConfigError for a bad field."""
  s = settings
  settings_lib.check('fedbuff', s, [
      ('buffer_size', lambda v: is_int(v) and v >= 1, 'an integer >= 1 (0: synchronous rounds)'),
      ('concurrency', lambda v: is_int(v) and v >= 0 and (v or clients_per_round) % s.buffer_size
       == 0 and (v or clients_per_round) <= num_clients,
       f'0 (clients_per_round) or a multiple of fedbuff.buffer_size={s.buffer_size} '
       f'up to the {num_clients} clients'),
      ('staleness', lambda v: v in STALENESS, f'one of {list(STALENESS)}'),
      ('exponent', lambda v: is_number(v) and v >= 0, 'a number >= 0'),
      ('hinge', lambda v: is_int(v) and v >= 0, 'an integer >= 0')])
  return s._replace(concurrency=s.concurrency or clients_per_round)


def staleness_factor(settings: Settings, tau: jax.Array) -> jax.Array:
  """s(tau) of `settings.staleness` (float32, in (0, 1])."""
  tau = tau.astype(jnp.float32)
  if settings.staleness == 'constant':
    return jnp.ones_like(tau)
  if settings.staleness == 'polynomial':
    return (1 + tau) ** -settings.exponent
  return jnp.where(tau <= settings.hinge, 1.,
                   1 / (settings.exponent * (tau - settings.hinge) + 1))
