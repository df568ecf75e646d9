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
from typing import Callable, NamedTuple

from fedjax_sim.aggregators.dp import DPOptions
from fedjax_sim.core.rules import check, is_number

ACCOUNTANTS = ('rdp', 'pld')
PLD_DISCRETIZATION = 1e-4  # dp_accounting's PLDAccountant default


def epsilon_tracker(noise_multiplier: float, sampling_rate: float, delta: float,
                    accountant: str) -> Callable[[int], float]:
  """Returns `rounds -> epsilon` at `delta`, cheap to call every evaluation:
  the one-round RDP curve (or PLD) is computed once and composed r times.
  One round is the Gaussian mechanism on a Poisson sample of the clients.
  (`dp_accounting`, with SciPy's signal and stats, loads here: over a second
  that runs without DP do not pay.)"""
  import dp_accounting  # pylint: disable=import-outside-toplevel
  from dp_accounting.pld import privacy_loss_distribution  # pylint: disable=import-outside-toplevel
  from dp_accounting.rdp import rdp_privacy_accountant  # pylint: disable=import-outside-toplevel
  if accountant not in ACCOUNTANTS:
    raise ValueError(f'accountant must be one of {ACCOUNTANTS}, got {accountant!r}')
  if noise_multiplier == 0:
    return lambda rounds: math.inf
  if accountant == 'rdp':
    rdp = rdp_privacy_accountant.RdpAccountant()
    rdp.compose(dp_accounting.PoissonSampledDpEvent(
        sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)))
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


class Settings(NamedTuple):
  """`config.privacy`: the `delta` epsilon is reported at, and the `accountant`."""

  delta: float = 1e-5
  accountant: str = 'rdp'


def epsilon_reporter(settings: Settings, dp: DPOptions,
                     num_clients: int) -> Callable[[int], dict[str, float]]:
  """A `train` reporter: `round_index -> {'epsilon': ...}` after that round,
  for DP-FedAvg with `dp` over `num_clients` clients."""
  check('privacy', settings, [
      ('delta', lambda v: is_number(v) and 0 < v < 1, 'in (0, 1)'),
      ('accountant', lambda v: v in ACCOUNTANTS, f'one of {list(ACCOUNTANTS)}')])
  epsilon = epsilon_tracker(dp.noise_multiplier, dp.expected_clients / num_clients,
                            settings.delta, settings.accountant)
  return lambda round_index: {'epsilon': epsilon(round_index + 1)}
