"""FedExP equals a plain per-client float64 loop; its mean squared norm is a
second reduce, apart from the aggregator."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, real_steps,
                                   to_numpy, weighted_mean)
from configs import fedexp as fedexp_config
from fedjax_sim.aggregators.clip import clip
from fedjax_sim.algorithms.fedexp import fedexp
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def sq_norm(tree):
  return sum(float(np.sum(a * a)) for a in jax.tree.leaves(tree))


def reference_round(model, x, data, ids, key, plan, lr, eps, max_norm=None):
  """One FedExP round in float64: `(new params, eta)`; with `max_norm`, the
  mean is of the clipped deltas (a clipping aggregator), the norms are not."""
  clients_key, _ = round_keys(key)
  deltas, weights, norms = [], [], []
  for cid in ids:
    y, _ = local_sgd(model, x, real_steps(data, cid, clients_key, plan), lr)
    delta = jax.tree.map(np.subtract, y, x)
    norms.append(sq_norm(delta))
    if max_norm is not None:
      scale = min(1., max_norm / max(np.sqrt(norms[-1]), 1e-30))
      delta = jax.tree.map(lambda d: scale * d, delta)
    deltas.append(delta)
    weights.append(float(data.counts[cid]))
  mean = weighted_mean(deltas, weights)
  mean_sq = np.dot(weights, norms) / np.sum(weights)
  eta = max(1., mean_sq / (2 * (sq_norm(mean) + eps)))
  return jax.tree.map(lambda a, d: a + eta * d, x, mean), eta


@pytest.mark.parametrize('strategy,chunk', [('sequential', 1), ('vmap', 1), ('chunked', 2)])
def test_fedexp_rounds_match_python_loop(ragged_data, tiny_mlp, strategy, chunk):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, eps = 0.5, 1e-3
  algorithm = fedexp(tiny_mlp, optax.sgd(lr), eps)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  round_fn = build_round(algorithm, plan, strategy, chunk)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  x, etas = to_numpy(params), []
  for r, ids in enumerate([[3, 0, 2], [1, 5, 4]]):  # client 2 has no examples
    key = jax.random.PRNGKey(20 + r)
    x, eta = reference_round(tiny_mlp, x, ragged_data, ids, key, plan, lr, eps)
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, x)
    np.testing.assert_allclose(state.server.step_size, eta, rtol=1e-5)
    etas.append(eta)
  assert max(etas) > 1.02  # the extrapolation is exercised, not just eta = 1


def test_fedexp_norms_bypass_a_clipping_aggregator(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, eps, max_norm = 0.5, 1e-3, 0.05
  algorithm = fedexp(tiny_mlp, optax.sgd(lr), eps)._replace(aggregator=clip(max_norm))
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  ids, key = [3, 5, 4], jax.random.PRNGKey(7)
  expected, eta = reference_round(tiny_mlp, to_numpy(params), ragged_data, ids, key, plan,
                                  lr, eps, max_norm)
  state = init_state(algorithm, params, ragged_data.num_clients)
  state, _ = build_round(algorithm, plan, 'sequential')(
      state, ragged_data, jnp.array(ids, jnp.int32), key)
  assert_trees_close(state.server.params, expected)
  np.testing.assert_allclose(state.server.step_size, eta, rtol=1e-5)
  assert eta > 2  # clipped mean, unclipped norms: a large extrapolation


def test_fedexp_bad_eps_is_a_config_error(tiny_mlp):
  config = fedexp_config.get_config()
  config.fedexp = ml_collections.ConfigDict({'eps': 0})
  with pytest.raises(ConfigError, match='fedexp.eps must be a number > 0, got 0'):
    build_algorithm(config, tiny_mlp, 20)
