"""Privacy accounting: epsilon agrees with dp_accounting's own accountants."""

import math

import types

import dp_accounting
import pytest
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

from configs import default, dp_fedavg
from fedjax_sim.errors import ConfigError
from fedjax_sim.privacy import epsilon_tracker
from fedjax_sim.config.experiment import build_experiment

ACCOUNTANTS = {'rdp': rdp_privacy_accountant.RdpAccountant,
               'pld': pld_privacy_accountant.PLDAccountant}


def direct_epsilon(accountant, z, q, rounds, delta):
  """Epsilon as dp_accounting's accountant computes it from scratch."""
  event = dp_accounting.SelfComposedDpEvent(
      dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), rounds)
  return ACCOUNTANTS[accountant]().compose(event).get_epsilon(delta)


@pytest.mark.parametrize('accountant', ['rdp', 'pld'])
def test_epsilon_matches_dp_accounting_and_is_monotone(accountant):
  q, delta = 0.1, 1e-5
  eps = {z: epsilon_tracker(z, q, delta, accountant) for z in (0.8, 1.2)}
  for rounds in (5, 20):
    want = direct_epsilon(accountant, 1.2, q, rounds, delta)
    assert math.isfinite(want)
    assert eps[1.2](rounds) == pytest.approx(want, rel=1e-6)
  assert eps[0.8](20) > eps[1.2](20)  # less noise, more privacy spent
  assert eps[1.2](5) < eps[1.2](10) < eps[1.2](20)  # more rounds, more spent
  assert epsilon_tracker(0., q, delta, accountant)(1) == math.inf


def test_pld_is_tighter_than_rdp():
  assert (epsilon_tracker(1., 0.25, 1e-5, 'pld')(30)
          < epsilon_tracker(1., 0.25, 1e-5, 'rdp')(30))


@pytest.mark.parametrize('accountant', ['rdp', 'pld'])
def test_experiment_reports_epsilon_after_each_round(accountant):
  config = dp_fedavg.get_config()
  config.privacy.accountant = accountant
  config.aggregator.noise_multiplier = 1.3
  (reporter,) = build_experiment(config).reporters
  q = config.clients_per_round / config.data.num_clients
  assert reporter(9, None)['epsilon'] == pytest.approx(
      direct_epsilon(accountant, 1.3, q, 10, 1e-5), rel=1e-6)
  assert build_experiment(default.get_config()).reporters == ()


@pytest.mark.parametrize('accountant', ['rdp', 'pld'])
def test_fedbuff_reports_epsilon_after_each_release(accountant):
  """Under FedBuff a DP release is a server update of K reports: epsilon
  counts the server state's updates, sampling rate K / N."""
  config = dp_fedavg.get_config()
  config.privacy.accountant = accountant
  config.aggregator.noise_multiplier = 1.3
  config.fedbuff.buffer_size = 2
  (reporter,) = build_experiment(config).reporters
  q = 2 / config.data.num_clients
  assert reporter(30, types.SimpleNamespace(version=7))['epsilon'] == pytest.approx(
      direct_epsilon(accountant, 1.3, q, 7, 1e-5), rel=1e-6)
  assert reporter(30, types.SimpleNamespace(version=0)) == {'epsilon': 0.}


@pytest.mark.parametrize('field,value,message', [
    ('delta', 0., 'privacy.delta must be in (0, 1), got 0.0'),
    ('accountant', 'moments', "privacy.accountant must be one of ['rdp', 'pld']"),
])
def test_bad_privacy_options_raise_config_error(field, value, message):
  config = dp_fedavg.get_config()
  config.privacy[field] = value
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)
