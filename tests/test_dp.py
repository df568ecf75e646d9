"""DP-FedAvg aggregation: clipping, noise scale and adaptive clip vs NumPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import dp_adaptive, dp_fedavg
from fedjax_sim.aggregators.dp import DPOptions, DPState, clip_update, dp_mean, dp_options
from fedjax_sim.config.algorithms import aggregator_settings
from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import Reduced, build_round, client_key, init_state, round_keys
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.aggregator import finish
from fedjax_sim.data.batching import client_stream, plan_batches
from fedjax_sim.errors import ConfigError


def np_clip(update, clip):
  """Clips a list of arrays to global L2 norm <= clip."""
  norm = math.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in update))
  return [u * min(1., clip / norm) for u in update], norm


def engine_sum(aggregator, updates, weights, state, key):
  """What the engine hands `combine` (stacked=False), as a plain loop."""
  total, weight_sum, stats_sum = None, 0., {}
  for i, (update, weight) in enumerate(zip(updates, weights)):
    update, weight, stats = aggregator.prepare(update, jnp.float32(weight), state,
                                               jax.random.fold_in(key, i))
    scaled = jax.tree.map(lambda u: weight * u, update)
    total = scaled if total is None else jax.tree.map(jnp.add, total, scaled)
    weight_sum += float(weight)
    stats_sum = {k: stats_sum.get(k, 0.) + float(v) for k, v in stats.items()}
  return Reduced(total, jnp.float32(weight_sum),
                 {k: jnp.float32(v) for k, v in stats_sum.items()})


def test_clip_update_matches_numpy():
  rng = np.random.default_rng(0)
  for scale, clip in [(0.1, 1.), (3., 1.), (1., 0.25)]:
    update = [rng.normal(size=(4, 3)).astype(np.float32) * scale,
              rng.normal(size=5).astype(np.float32) * scale]
    clipped, norm = clip_update({'a': jnp.asarray(update[0]), 'b': jnp.asarray(update[1])},
                                jnp.float32(clip))
    ref, ref_norm = np_clip(update, clip)
    np.testing.assert_allclose(norm, ref_norm, rtol=1e-5)
    np.testing.assert_allclose(clipped['a'], ref[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(clipped['b'], ref[1], rtol=1e-5, atol=1e-7)


def test_dp_round_matches_numpy_reference(ragged_data, tiny_mlp):
  """Noise off: the server moves by sum(clipped deltas of non-empty clients) / m."""
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  clip, m = 0.05, 6  # m differs from the 5 sampled and 4 non-empty clients
  algorithm = fedavg(tiny_mlp, optax.sgd(0.3), optax.sgd(1.))
  plan = plan_batches(ragged_data.max_examples, 4, 2)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)  # client 2 is empty: weight 0
  key = jax.random.PRNGKey(3)
  clients_key, _ = round_keys(key)
  deltas, norms = [], []
  for cid in np.asarray(ids):
    batch_key, train_key, _ = client_key(clients_key, cid)
    count = ragged_data.counts[cid]
    batches = ClientBatches(ragged_data.examples, jnp.int32(cid), count,
                            client_stream(batch_key, count, plan))
    result = algorithm.client_update(algorithm.init(params), (), batches, train_key)
    if int(count) > 0:
      clipped, norm = np_clip([np.asarray(x) for x in jax.tree.leaves(result.update)], clip)
      deltas.append(clipped)
      norms.append(norm)
  expected = [p + sum(d[i] for d in deltas) / m
              for i, p in enumerate(map(np.asarray, jax.tree.leaves(params)))]
  dp = algorithm._replace(aggregator=dp_mean(DPOptions(clip, 0., m)))
  round_fn = build_round(dp, plan)
  state = init_state(dp, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  state, metrics = round_fn(state, ragged_data, ids, key)
  for got, want in zip(jax.tree.leaves(state.server.params), expected):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert float(metrics['total_weight']) == 4.
  assert float(metrics['clip_norm']) == pytest.approx(clip)
  assert float(metrics['fraction_clipped']) == pytest.approx(np.mean(np.array(norms) > clip))
  state, _ = round_fn(state, ragged_data, ids[::-1], jax.random.PRNGKey(4))
  assert round_fn._cache_size() == 1


@pytest.mark.parametrize('adaptive,sigma_b,expected_z', [(False, 0., 1.2),
                                                          (True, 1., 1.5)])
def test_noise_std_is_z_clip_over_m(adaptive, sigma_b, expected_z):
  """Zero updates: the aggregate is pure noise of std z C / m (z_delta C / m
  under adaptive clipping: (1.2^-2 - 2^-2)^-1/2 = 1.5). Chi-square test."""
  clip, m, n = 0.7, 8, 200_000
  agg = dp_mean(DPOptions(clip, 1.2, m, adaptive, count_noise_multiplier=sigma_b))
  zeros = {'a': jnp.zeros((n // 2,)), 'b': jnp.zeros((n // 4, 2))}
  reduced, _, _ = agg.combine(Reduced(zeros, jnp.float32(3.), {'unclipped': jnp.float32(3.)}),
                              agg.init(), jax.random.PRNGKey(1))
  out = finish(reduced)
  x = np.concatenate([np.asarray(v, np.float64).ravel() for v in jax.tree.leaves(out)])
  sigma = expected_z * clip / m
  assert abs(np.sum(x ** 2) / sigma ** 2 - n) < 5 * math.sqrt(2 * n)
  assert abs(x.mean()) < 5 * sigma / math.sqrt(n)


def test_adaptive_clip_count_noise_std():
  """log(C'/C) = -eta ((count + N(0, sigma_b^2)) / m - gamma): its std over
  many keys is eta sigma_b / m and its mean -eta (count / m - gamma)."""
  eta, sigma_b, m, gamma, count, k = 0.3, 2., 10, 0.5, 7., 4000
  agg = dp_mean(DPOptions(1., 1., m, True, gamma, eta, sigma_b))
  reduced = Reduced({'a': jnp.zeros(3)}, jnp.float32(9.), {'unclipped': jnp.float32(count)})
  new_clip = jax.vmap(lambda key: agg.combine(reduced, agg.init(), key)[1].clip)(
      jax.random.split(jax.random.PRNGKey(0), k))
  log_ratio = np.log(np.asarray(new_clip, np.float64))
  std = eta * sigma_b / m
  assert abs(log_ratio.mean() + eta * (count / m - gamma)) < 5 * std / math.sqrt(k)
  assert abs(np.sum((log_ratio - log_ratio.mean()) ** 2) / std ** 2 - (k - 1)) \
      < 5 * math.sqrt(2 * k)


def test_adaptive_clip_matches_hand_computation():
  """Noise off; norms 0.5, 1.5, 2.1 and an empty (weight 0) client; C0 = 2,
  m = 4, gamma = 0.8, eta = 0.2."""
  eta, gamma, m = 0.2, 0.8, 4
  agg = dp_mean(DPOptions(2., 0., m, True, gamma, eta, 0.))
  direction = {'a': jnp.array([0.6, 0.]), 'b': jnp.array([[0.8]])}  # unit norm
  updates = [jax.tree.map(lambda d, s=s: s * d, direction) for s in (0.5, 1.5, 2.1, 9.)]
  weights = [3., 1., 5., 0.]
  state, key = agg.init(), jax.random.PRNGKey(0)
  expected_clip = 2.
  for unclipped_norms in ([0.5, 1.5], [0.5, 1.5, 2.1]):
    reduced = engine_sum(agg, updates, weights, state, key)
    reduced, state, metrics = agg.combine(reduced, state, key)
    aggregate = finish(reduced)
    total = sum(min(s, expected_clip) for s in (0.5, 1.5, 2.1))
    np.testing.assert_allclose(aggregate['a'], [0.6 * total / m, 0.], rtol=1e-5)
    np.testing.assert_allclose(aggregate['b'], [[0.8 * total / m]], rtol=1e-5)
    assert float(metrics['clip_norm']) == pytest.approx(expected_clip, rel=1e-6)
    assert float(metrics['fraction_clipped']) == pytest.approx(
        1 - len(unclipped_norms) / 3)
    expected_clip *= math.exp(-eta * (len(unclipped_norms) / m - gamma))
    assert float(state.clip) == pytest.approx(expected_clip, rel=1e-6)
  # 2 exp(0.06) = 2.124 > 2.1, so the second round clipped nobody.
  assert isinstance(state, DPState)


def options_from_config(config):
  return dp_options(aggregator_settings(config), config.clients_per_round)


def test_configs_build_options():
  fixed = options_from_config(dp_fedavg.get_config())
  adaptive = options_from_config(dp_adaptive.get_config('synthetic'))
  assert not fixed.adaptive and fixed.expected_clients == 50
  assert adaptive.adaptive and adaptive.count_noise_multiplier == 2.5


@pytest.mark.parametrize('field,value,message', [
    ('clip', 0., 'aggregator.clip must be > 0, got 0.0'),
    ('noise_multiplier', -1., 'aggregator.noise_multiplier must be >= 0'),
    ('target_quantile', 1.5, 'aggregator.target_quantile must be in [0, 1]'),
    ('clip_learning_rate', -0.1, 'aggregator.clip_learning_rate must be >= 0'),
    ('count_noise_multiplier', -2., 'aggregator.count_noise_multiplier must be >= 0'),
    ('count_noise_multiplier', 0.5,
     'aggregator.count_noise_multiplier must be > noise_multiplier / 2 = 0.75'),
])
def test_bad_dp_options_raise_config_error(field, value, message):
  config = dp_adaptive.get_config()
  config.aggregator[field] = value
  with pytest.raises(ConfigError) as info:
    options_from_config(config)
  assert message in str(info.value)
