"""Privacy accounting of DP-FedAvg with `dp_accounting` (RDP or PLD).

Each round is accounted as a Poisson-subsampled Gaussian mechanism with
sampling rate q = clients_per_round / num_clients and the aggregator's noise
multiplier z (user-level DP, add-or-remove-one neighbours). The simulator
samples a fixed number of clients without replacement, so this is the usual
approximation (as in McMahan et al. 2018), not an exact bound.

Options: `config.privacy = {delta (default 1e-5), accountant: 'rdp' | 'pld'}`.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import dp_accounting
import ml_collections
from dp_accounting.pld import privacy_loss_distribution
from dp_accounting.rdp import rdp_privacy_accountant

from fedjax_sim.aggregators.dp import options_from_config
from fedjax_sim.errors import ConfigError

ACCOUNTANTS = ('rdp', 'pld')
PLD_DISCRETIZATION = 1e-4  # dp_accounting's PLDAccountant default


def round_event(noise_multiplier: float, sampling_rate: float) -> dp_accounting.DpEvent:
  """One round: the Gaussian mechanism on a Poisson sample of the clients."""
  return dp_accounting.PoissonSampledDpEvent(
      sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))


def epsilon_tracker(noise_multiplier: float, sampling_rate: float, delta: float,
                    accountant: str) -> Callable[[int], float]:
  """Returns `rounds -> epsilon` at `delta`, cheap to call every evaluation:
  the one-round RDP curve (or PLD) is computed once and composed r times."""
  if accountant not in ACCOUNTANTS:
    raise ValueError(f'accountant must be one of {ACCOUNTANTS}, got {accountant!r}')
  if noise_multiplier == 0:
    return lambda rounds: math.inf
  if accountant == 'rdp':
    rdp = rdp_privacy_accountant.RdpAccountant()
    rdp.compose(round_event(noise_multiplier, sampling_rate))
    orders, one_round = rdp.orders, rdp.rdp

    def epsilon(rounds: int) -> float:
      return rdp_privacy_accountant.compute_epsilon(orders, rounds * one_round,
                                                    delta)[0]
  else:
    one_round = privacy_loss_distribution.from_gaussian_mechanism(
        standard_deviation=noise_multiplier, sampling_prob=sampling_rate,
        value_discretization_interval=PLD_DISCRETIZATION)

    def epsilon(rounds: int) -> float:
      return one_round.self_compose(rounds).get_epsilon_for_delta(delta)

  return functools.lru_cache(maxsize=None)(epsilon)


def is_private(config: ml_collections.ConfigDict) -> bool:
  """Whether the config aggregates with DP-FedAvg (`aggregator.name == 'dp'`)."""
  return config.get('aggregator', {}).get('name') == 'dp'


def epsilon_reporter(config: ml_collections.ConfigDict,
                     num_clients: int) -> Callable[[int], dict[str, float]]:
  """A `train` reporter: `round_index -> {'epsilon': ...}` after that round."""
  privacy = config.get('privacy', {})
  delta = privacy.get('delta', 1e-5)
  accountant = privacy.get('accountant', 'rdp')
  if not 0 < delta < 1:
    raise ConfigError(f'privacy.delta must be in (0, 1), got {delta!r}')
  if accountant not in ACCOUNTANTS:
    raise ConfigError(f'privacy.accountant must be one of {list(ACCOUNTANTS)}, '
                      f'got {accountant!r}')
  noise_multiplier = options_from_config(config).noise_multiplier
  epsilon = epsilon_tracker(noise_multiplier, config.clients_per_round / num_clients,
                            delta, accountant)
  return lambda round_index: {'epsilon': epsilon(round_index + 1)}
