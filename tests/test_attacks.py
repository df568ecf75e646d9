"""Attacks: the malicious set, flipped labels and rewritten updates equal
hand-computed values; the experiment poisons only the training data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from fedjax_sim.behaviour.attacks import flip_labels, malicious_clients, with_attack
from fedjax_sim.core import ClientResult, FederatedAlgorithm, build_round, init_state
from fedjax_sim.data import plan_batches
from fedjax_sim.data.registry import load_dataset
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.schedule import sample_and_round_keys
from fedjax_sim.run.evaluation import round_summary

MALICIOUS = np.array([False, True, True, False, False, True])  # client 2 is empty


def test_malicious_clients_is_a_seeded_set_of_the_right_size():
  chosen = malicious_clients(20, 0.3, seed=5)
  assert chosen.dtype == bool and chosen.sum() == 6
  np.testing.assert_array_equal(chosen, malicious_clients(20, 0.3, seed=5))
  assert not np.array_equal(chosen, malicious_clients(20, 0.3, seed=6))
  assert malicious_clients(20, 0., 0).sum() == 0
  assert malicious_clients(20, 1., 0).all()
  assert malicious_clients(7, 0.2, 0).sum() == 1  # round(1.4)


def test_flip_labels_changes_only_real_rows_of_malicious_clients(ragged_data):
  flipped = flip_labels(ragged_data, MALICIOUS, num_classes=4)
  y, new_y = np.asarray(ragged_data.examples['y']), np.asarray(flipped.examples['y'])
  expected = y.copy()
  for client, count in enumerate(np.asarray(ragged_data.counts)):
    if MALICIOUS[client]:
      for row in range(count):
        expected[client, row] = 3 - y[client, row]
  np.testing.assert_array_equal(new_y, expected)
  assert (new_y[5, :12] != y[5, :12]).any()  # client 5 has labels to flip
  np.testing.assert_array_equal(flipped.examples['x'], ragged_data.examples['x'])
  np.testing.assert_array_equal(flipped.counts, ragged_data.counts)


def table_algorithm(updates: np.ndarray) -> FederatedAlgorithm:
  """Client c sends `updates[c]` with weight = its example count; the server
  state becomes the (weighted mean) aggregate."""

  def client_update(server, client_state, batches, key):
    return ClientResult(jnp.asarray(updates)[batches.client_id],
                        batches.count.astype(jnp.float32), {'loss': jnp.float32(1.)})

  return FederatedAlgorithm(lambda params: params, client_update,
                            lambda server, aggregate: aggregate)


@pytest.mark.parametrize('strategy,chunk_size', [('vmap', 1), ('chunked', 2)])
@pytest.mark.parametrize('kind,factor', [('sign_flip', -3.), ('scale', 3.),
                                         ('label_flip', 1.)])
def test_update_attacks_in_a_round(ragged_data, strategy, chunk_size, kind, factor):
  updates = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
  algorithm = with_attack(table_algorithm(updates), kind, MALICIOUS, scale=3.)
  ids = [5, 0, 2, 3, 1]
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         strategy, chunk_size)
  state = init_state(algorithm, jnp.zeros(3), ragged_data.num_clients)
  state, metrics = round_fn(state, ragged_data, jnp.asarray(ids, jnp.int32),
                            jax.random.PRNGKey(0))
  counts = np.asarray(ragged_data.counts, np.float64)
  total, weighted, malicious_weight = 0., np.zeros(3), 0.
  for c in ids:
    sent = factor * updates[c] if MALICIOUS[c] else updates[c]
    weighted += counts[c] * sent
    total += counts[c]
    malicious_weight += counts[c] * MALICIOUS[c]
  np.testing.assert_allclose(state.server, weighted / total, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(metrics['clients']['malicious'], MALICIOUS[ids])
  np.testing.assert_allclose(metrics['malicious'], malicious_weight / total, rtol=1e-6)


def test_label_flip_experiment_poisons_training_data_not_test_data():
  config = default.get_config()
  config.attack.update({'kind': 'label_flip', 'fraction': 0.2})
  exp = build_experiment(config)
  clean = load_dataset(config.data, config.seed)
  malicious = malicious_clients(20, 0.2, config.seed)
  assert malicious.sum() == 4
  y, new_y = np.asarray(clean.train.examples['y']), np.asarray(exp.dataset.train.examples['y'])
  real = np.arange(y.shape[1])[None, :] < np.asarray(clean.train.counts)[:, None]
  poisoned = malicious[:, None] & real
  np.testing.assert_array_equal(new_y[poisoned], 9 - y[poisoned])
  np.testing.assert_array_equal(new_y[~poisoned], y[~poisoned])
  for key in clean.test:
    np.testing.assert_array_equal(exp.dataset.test[key], clean.test[key])


def test_sign_flip_experiment_marks_the_sampled_malicious_clients():
  config = default.get_config()
  config.attack.update({'kind': 'sign_flip', 'fraction': 0.3, 'scale': 2.})
  exp = build_experiment(config)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  state = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  sample_key, round_key = sample_and_round_keys(config.seed, 0)
  ids = exp.sample_fn(sample_key)
  _, metrics = exp.round_fn(state, jax.device_put(exp.dataset.train), ids, round_key)
  malicious = malicious_clients(20, 0.3, config.seed)
  np.testing.assert_array_equal(metrics['clients']['malicious'], malicious[np.asarray(ids)])
  assert round_summary(metrics)['malicious_sampled'] == malicious[np.asarray(ids)].sum()


@pytest.mark.parametrize('options,message', [
    ({'kind': 'backdoor'},
     "attack.kind must be one of ['none', 'sign_flip', 'scale', 'label_flip'], got 'backdoor'"),
    ({'kind': 'sign_flip', 'fraction': 1.5}, 'attack.fraction must be in [0, 1], got 1.5'),
    ({'kind': 'scale', 'fraction': -0.1}, 'attack.fraction must be in [0, 1], got -0.1'),
    ({'kind': 'scale', 'scale': 0.}, 'attack.scale must be > 0, got 0.0'),
    ({'kind': 'sign_flip', 'scale': -2.}, 'attack.scale must be > 0, got -2.0'),
])
def test_bad_attack_options_name_the_field(options, message):
  config = default.get_config()
  config.attack.update(options)
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)


def test_with_attack_rejects_none():
  with pytest.raises(ConfigError, match="attack.kind must be one of"):
    with_attack(table_algorithm(np.zeros((2, 1))), 'none', np.zeros(2, bool))


def test_sign_flip_keeps_one_element_leaves_honest():
  """SCAFFOLD's `trained` flag is what the server divides by: a flipped one
  (-1) could cancel an honest client's and blow up the step (the pairwise
  matrix's NaN: SCAFFOLD, sign flip, digits)."""
  update = {'delta': jnp.ones((2, 3)), 'trained': jnp.float32(1.)}
  honest = FederatedAlgorithm(
      None, lambda server, client, batches, key: ClientResult(update, jnp.float32(1.), {}, client),
      None, None)
  attacked = with_attack(honest, 'sign_flip', np.array([True]), scale=2.)
  batches = type('Batches', (), {'client_id': jnp.int32(0)})()
  result = attacked.client_update(None, None, batches, None)
  np.testing.assert_array_equal(result.update['delta'], -2. * np.ones((2, 3)))
  assert float(result.update['trained']) == 1.
