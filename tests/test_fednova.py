"""FedNova equals a plain per-client loop, and differs from FedAvg on ragged clients."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, real_steps,
                                   to_numpy, weighted_mean)
from configs import fednova as fednova_config
from fedjax_sim.algorithms.fednova import fednova
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def reference_round(model, params, data, ids, key, plan, lr, server_lr):
  """`(fednova_params, fedavg_params)` after one round from the same local runs."""
  clients_key, _ = round_keys(key)
  x = to_numpy(params)
  deltas, taus, p = [], [], []
  for cid in ids:
    steps = real_steps(data, cid, clients_key, plan)
    if not steps:  # an empty client has p_i = 0
      continue
    y, _ = local_sgd(model, params, steps, lr)
    deltas.append(jax.tree.map(np.subtract, y, x))
    taus.append(len(steps))
    p.append(float(data.counts[cid]))
  p = np.array(p) / np.sum(p)
  tau_eff = np.dot(p, taus)
  normalized = [jax.tree.map(lambda d: d / t, delta) for delta, t in zip(deltas, taus)]
  nova = jax.tree.map(lambda a, d: a + server_lr * tau_eff * d, x,
                      weighted_mean(normalized, p))
  avg = jax.tree.map(lambda a, d: a + server_lr * d, x, weighted_mean(deltas, p))
  return nova, avg


def test_fednova_round_matches_python_loop_and_differs_from_fedavg(ragged_data,
                                                                   tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  lr, server_lr = 0.2, 1.3
  algorithm = fednova(tiny_mlp, lr, optax.sgd(server_lr))
  plan = plan_batches(ragged_data.max_examples, 3, epochs=1)  # 8, 1, 3, 0 steps
  ids = [3, 0, 1, 2]
  key = jax.random.PRNGKey(5)
  nova, avg = reference_round(tiny_mlp, params, ragged_data, ids, key, plan, lr,
                              server_lr)
  state = init_state(algorithm, params, ragged_data.num_clients)
  state, _ = build_round(algorithm, plan)(state, ragged_data,
                                          jnp.array(ids, jnp.int32), key)
  assert_trees_close(state.server.params, nova)
  gap = jax.tree.map(lambda a, b: np.abs(a - b).max(), nova, avg)
  assert max(jax.tree.leaves(gap)) > 1e-3


def test_fednova_needs_plain_sgd(tiny_mlp):
  config = fednova_config.get_config()
  config.client.optimizer.name = 'adam'
  with pytest.raises(ConfigError, match='fednova needs client.optimizer sgd'):
    build_algorithm(config, tiny_mlp, 20)
