"""Update compression: quantization, top-k, error feedback and upload bytes."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import default
from fedjax_sim.compression import (quantize_tensor, stochastic_quantizer, top_k,
                                    top_k_tensor, with_compression)
from fedjax_sim.core import ClientResult, FederatedAlgorithm
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train

PARAMS = {'w': jnp.zeros((5, 4)), 'b': jnp.zeros(4)}


def test_quantization_is_unbiased_and_on_the_grid():
  bits, num_keys = 3, 4000
  x = jax.random.normal(jax.random.PRNGKey(0), (50,))
  q = jax.vmap(lambda key: quantize_tensor(x, bits, key))(
      jax.random.split(jax.random.PRNGKey(1), num_keys))
  x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
  scale = (x.max() - x.min()) / (2 ** bits - 1)
  levels = (q - x.min()) / scale
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
  assert np.all(np.abs(q - x) <= scale * (1 + 1e-5))
  # Each coordinate's variance is at most scale^2 / 4.
  np.testing.assert_array_less(np.abs(q.mean(0) - x), 5 * scale / (2 * math.sqrt(num_keys)))


def test_quantization_is_exact_on_the_grid():
  x = jnp.array([[0., 3., 1.], [2., 2., 0.]])  # 2 bits: levels 0, 1, 2, 3
  for seed in range(5):
    np.testing.assert_array_equal(quantize_tensor(x, 2, jax.random.PRNGKey(seed)), x)
  constant = jnp.full((4,), -1.5)
  np.testing.assert_array_equal(quantize_tensor(constant, 1, jax.random.PRNGKey(0)),
                                constant)


def test_top_k_keeps_the_largest_magnitudes():
  x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
  for fraction, k in [(0.1, 3), (0.5, 15), (0.01, 1), (1., 30)]:
    want = np.zeros(30, np.float32)
    keep = np.argsort(-np.abs(x.ravel()))[:k]
    want[keep] = x.ravel()[keep]
    np.testing.assert_array_equal(top_k_tensor(jnp.asarray(x), fraction),
                                  want.reshape(6, 5))


def echo_algorithm() -> FederatedAlgorithm:
  """Clients send the server state as their update, weight 1 (or 0 if it says so)."""

  def client_update(server_state, client_state, batches, key):
    update, weight = server_state
    return ClientResult(update, jnp.float32(weight), {'loss': jnp.float32(0.)},
                        client_state)

  return FederatedAlgorithm(lambda params: params, client_update, lambda s, a: s)


def test_error_feedback_residual_sums_back():
  """Over rounds: sum of updates = sum of what was sent + the final residual."""
  algorithm = with_compression(echo_algorithm(), top_k(0.25), error_feedback=True)
  state = algorithm.client_init(PARAMS)
  updates_sum = sent_sum = jax.tree.map(jnp.zeros_like, PARAMS)
  for r in range(4):
    update = jax.tree.map(lambda p, i=r: jax.random.normal(jax.random.PRNGKey(i), p.shape),
                          PARAMS)
    result = algorithm.client_update((update, 1.), state, None, jax.random.PRNGKey(r))
    state = result.client_state
    updates_sum = jax.tree.map(jnp.add, updates_sum, update)
    sent_sum = jax.tree.map(jnp.add, sent_sum, result.update)
    assert int(jnp.sum(result.update['w'] != 0)) == 5  # round(0.25 * 20)
  residual = state[1]
  for key in PARAMS:
    np.testing.assert_allclose(updates_sum[key], sent_sum[key] + residual[key],
                               rtol=1e-5, atol=1e-6)
  # A client of weight 0 sends nothing and keeps all of update + residual.
  update = jax.tree.map(jnp.ones_like, PARAMS)
  result = algorithm.client_update((update, 0.), state, None, jax.random.PRNGKey(9))
  np.testing.assert_allclose(result.client_state[1]['w'], residual['w'] + 1.)
  assert float(result.metrics['upload_bytes']) == 0.


def test_without_error_feedback_clients_keep_no_residual():
  algorithm = with_compression(echo_algorithm(), top_k(0.25), error_feedback=False)
  update = {'w': jnp.arange(20.).reshape(5, 4), 'b': jnp.array([1., -4., 2., 3.])}
  result = algorithm.client_update((update, 1.), algorithm.client_init(PARAMS), None,
                                   jax.random.PRNGKey(0))
  assert result.client_state == ((), ())
  np.testing.assert_array_equal(result.update['b'], [0., -4., 0., 0.])


@pytest.mark.parametrize('compressor,expected', [
    # 3 bits: ceil(20 * 3 / 8) + 8 = 16 and ceil(4 * 3 / 8) + 8 = 10.
    (stochastic_quantizer(3), 26),
    # k = 5 of 20 and 1 of 4 entries, 4 value + 4 index bytes each.
    (top_k(0.25), 48),
])
def test_upload_bytes_match_hand_computation(compressor, expected):
  assert compressor.payload_bytes(PARAMS) == expected
  algorithm = with_compression(echo_algorithm(), compressor)
  result = algorithm.client_update((PARAMS, 2.), algorithm.client_init(PARAMS), None,
                                   jax.random.PRNGKey(0))
  assert float(result.metrics['upload_bytes']) == expected


def test_train_logs_the_round_total_upload():
  """Synthetic logistic regression (kernel 60x10, bias 10), top-k 10%:
  (60 + 1) * 8 = 488 bytes per client, 10 clients per round."""
  config = default.get_config('synthetic')
  config.rounds = 2
  config.compression.update(name='topk', fraction=0.1)
  history = train(config, log=lambda line: None)
  assert history[-1]['upload_bytes'] == 10 * 488


@pytest.mark.parametrize('field,value,message', [
    ('name', 'zip', "compression.name must be one of ['none', 'quantize', 'topk']"),
    ('bits', 0, 'compression.bits must be an integer in [1, 16], got 0'),
    ('bits', 2.5, 'compression.bits must be an integer in [1, 16], got 2.5'),
    ('fraction', 0., 'compression.fraction must be in (0, 1], got 0.0'),
    ('error_feedback', 'yes', "compression.error_feedback must be True or False"),
])
def test_bad_compression_options_raise_config_error(field, value, message):
  config = default.get_config()
  name = 'topk' if field == 'fraction' else 'quantize'
  config.compression = ml_collections.ConfigDict({'name': name, field: value})
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)
