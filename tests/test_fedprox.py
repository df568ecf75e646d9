"""FedProx equals a plain per-client loop with the proximal gradient."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, real_steps,
                                   to_numpy, weighted_mean)
from configs import fedprox as fedprox_config
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.algorithms.fedprox import fedprox
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def reference_round(model, params, data, ids, key, plan, lr, mu, server_lr,
                    weighting='num_examples'):
  """FedProx's round; the mean runs over the clients with a real step."""
  clients_key, _ = round_keys(key)
  x0 = to_numpy(params)
  deltas, weights, losses = [], [], []
  for cid in ids:
    steps = real_steps(data, cid, clients_key, plan)
    if not steps:
      continue
    prox = lambda g, w: jax.tree.map(lambda gi, wi, w0: gi + mu * (wi - w0), g, w, x0)
    y, loss = local_sgd(model, params, steps, lr, prox)
    deltas.append(jax.tree.map(np.subtract, y, x0))
    weights.append(float(data.counts[cid]) if weighting == 'num_examples' else 1.)
    losses.append(loss)
  mean = weighted_mean(deltas, weights)
  return (jax.tree.map(lambda a, d: a + server_lr * d, x0, mean),
          np.dot(weights, losses) / np.sum(weights))


def test_fedprox_round_matches_python_loop(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, mu, server_lr = 0.2, 0.7, 0.9
  algorithm = fedprox(tiny_mlp, optax.sgd(lr), optax.sgd(server_lr), mu)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  ids = [3, 1, 2]  # 12, 4 and 0 real steps
  key = jax.random.PRNGKey(3)
  expected, expected_loss = reference_round(tiny_mlp, params, ragged_data, ids, key,
                                            plan, lr, mu, server_lr)
  without_prox, _ = reference_round(tiny_mlp, params, ragged_data, ids, key, plan,
                                    lr, 0., server_lr)
  state = init_state(algorithm, params, ragged_data.num_clients)
  state, metrics = build_round(algorithm, plan)(state, ragged_data,
                                                jnp.array(ids, jnp.int32), key)
  assert_trees_close(state.server.params, expected)
  np.testing.assert_allclose(metrics['train_loss'], expected_loss, rtol=1e-5)
  gap = jax.tree.map(lambda a, b: np.abs(a - b).max(), expected, without_prox)
  assert max(jax.tree.leaves(gap)) > 1e-3  # the proximal term matters here


@pytest.mark.parametrize('mu', [None, 0.7])  # None: fedavg itself
def test_uniform_weighting_averages_the_clients_that_trained(ragged_data, tiny_mlp, mu):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, server_lr = 0.2, 1.
  algorithm = (fedavg(tiny_mlp, optax.sgd(lr), optax.sgd(server_lr), 'uniform') if mu is None
               else fedprox(tiny_mlp, optax.sgd(lr), optax.sgd(server_lr), mu, 'uniform'))
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  ids = [3, 2, 1]  # 12, 0 and 4 real steps
  key = jax.random.PRNGKey(4)
  expected, expected_loss = reference_round(tiny_mlp, params, ragged_data, ids, key, plan,
                                            lr, mu or 0., server_lr, 'uniform')
  state = init_state(algorithm, params, ragged_data.num_clients)
  state, metrics = build_round(algorithm, plan)(state, ragged_data,
                                                jnp.array(ids, jnp.int32), key)
  assert_trees_close(state.server.params, expected)
  np.testing.assert_allclose(metrics['train_loss'], expected_loss, rtol=1e-5)
  np.testing.assert_array_equal(metrics['clients']['weight'], [1., 0., 1.])


def test_fedprox_negative_mu_is_a_config_error(tiny_mlp):
  config = fedprox_config.get_config()
  config.fedprox = ml_collections.ConfigDict({'mu': -1.})
  with pytest.raises(ConfigError, match='fedprox.mu must be a number >= 0, got -1.0'):
    build_algorithm(config, tiny_mlp, 20)
