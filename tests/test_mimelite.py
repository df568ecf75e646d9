"""MimeLite equals a plain per-client loop with a fixed server momentum."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, loss_and_grad,
                                   real_steps, to_numpy, weighted_mean)
from configs import mimelite as mimelite_config
from fedjax_sim.algorithms.mimelite import mimelite
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def reference_round(model, x, m, data, ids, key, plan, lr, beta, server_lr):
  clients_key, _ = round_keys(key)
  deltas, full_grads, weights = [], [], []
  for cid in ids:
    count = int(data.counts[cid])
    if count == 0:  # weight 0
      continue
    steps = real_steps(data, cid, clients_key, plan)
    mime = lambda g, w: jax.tree.map(lambda gi, mi: (1 - beta) * gi + beta * mi, g, m)
    y, _ = local_sgd(model, x, steps, lr, mime)
    everything = {k: jnp.asarray(np.asarray(v)[cid, :count])
                  for k, v in data.examples.items()}
    _, full = loss_and_grad(model, x, everything, np.ones(count, bool))
    deltas.append(jax.tree.map(np.subtract, y, x))
    full_grads.append(full)
    weights.append(count)
  x = jax.tree.map(lambda a, d: a + server_lr * d, x, weighted_mean(deltas, weights))
  m = jax.tree.map(lambda g, mi: (1 - beta) * g + beta * mi,
                   weighted_mean(full_grads, weights), m)
  return x, m


def test_mimelite_two_rounds_match_python_loop(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(2), jnp.zeros((1, 6)))
  lr, beta, server_lr = 0.25, 0.8, 0.9
  algorithm = mimelite(tiny_mlp, lr, beta, optax.sgd(server_lr))
  plan = plan_batches(ragged_data.max_examples, 4, epochs=1)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  round_fn = build_round(algorithm, plan)
  x = to_numpy(params)
  m = jax.tree.map(np.zeros_like, x)
  for r, ids in enumerate([[3, 0, 2], [5, 1, 3]]):  # round 2 uses a nonzero m
    key = jax.random.PRNGKey(20 + r)
    x, m = reference_round(tiny_mlp, x, m, ragged_data, ids, key, plan, lr, beta,
                           server_lr)
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, x)
    assert_trees_close(state.server.momentum, m)


@pytest.mark.parametrize('beta', [1., -0.1])
def test_mimelite_beta_out_of_range_is_a_config_error(tiny_mlp, beta):
  config = mimelite_config.get_config()
  config.mimelite.beta = beta
  with pytest.raises(ConfigError, match=r'mimelite.beta must be a number in \[0, 1\), got'):
    build_algorithm(config, tiny_mlp, 20)
