"""FedDyn equals a plain per-client float64 loop with persistent client state."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from client_loop_reference import assert_trees_close, local_sgd, real_steps, to_numpy
from configs import feddyn as feddyn_config
from fedjax_sim.algorithms.feddyn import feddyn
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def reference_round(model, x, h, grads, data, ids, key, plan, lr, alpha):
  """One FedDyn round in float64; updates `grads` (client -> g_k) in place."""
  clients_key, _ = round_keys(key)
  models, deltas = [], []
  for cid in ids:
    steps = real_steps(data, cid, clients_key, plan)
    if not steps:  # nothing to train on: g_k unchanged, no contribution
      continue
    gk = grads[cid]
    regularized = lambda g, w: jax.tree.map(  # noqa: E731
        lambda gi, gki, wi, xi: gi - gki + alpha * (wi - xi), g, gk, w, x)
    y, _ = local_sgd(model, x, steps, lr, regularized)
    delta = jax.tree.map(np.subtract, y, x)
    grads[cid] = jax.tree.map(lambda a, d: a - alpha * d, gk, delta)
    models.append(y)
    deltas.append(delta)
  h = jax.tree.map(lambda a, *d: a - alpha * sum(d) / data.num_clients, h, *deltas)
  x = jax.tree.map(lambda hh, *w: sum(w) / len(w) - hh / alpha, h, *models)
  return x, h


@pytest.mark.parametrize('strategy,chunk', [('sequential', 1), ('vmap', 1), ('chunked', 2)])
def test_feddyn_rounds_match_python_loop(ragged_data, tiny_mlp, strategy, chunk):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, alpha = 0.3, 0.1
  algorithm = feddyn(tiny_mlp, optax.sgd(lr), alpha, ragged_data.num_clients, 3)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=1)
  round_fn = build_round(algorithm, plan, strategy, chunk)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  x = to_numpy(params)
  h = jax.tree.map(np.zeros_like, x)
  grads = {cid: h for cid in range(ragged_data.num_clients)}
  for r, ids in enumerate([[3, 0, 2], [1, 3, 2], [3, 5, 4]]):  # client 3 thrice; 2 empty
    key = jax.random.PRNGKey(10 + r)
    x, h = reference_round(tiny_mlp, x, h, grads, ragged_data, ids, key, plan, lr, alpha)
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, x)
    assert_trees_close(state.server.h, h)
    for cid, gk in grads.items():
      assert_trees_close(jax.tree.map(lambda a: a[cid], state.clients), gk)
  assert max(np.abs(a).max() for a in jax.tree.leaves(grads[3])) > 1e-3


def test_feddyn_bad_alpha_is_a_config_error(tiny_mlp):
  config = feddyn_config.get_config()
  config.feddyn = ml_collections.ConfigDict({'alpha': -0.1})
  with pytest.raises(ConfigError, match='feddyn.alpha must be a number > 0, got -0.1'):
    build_algorithm(config, tiny_mlp, 20)
