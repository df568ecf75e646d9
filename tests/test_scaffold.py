"""SCAFFOLD equals a plain per-client loop with persistent client controls."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, real_steps,
                                   to_numpy)
from configs import scaffold as scaffold_config
from fedjax_sim.algorithms.scaffold import scaffold
from fedjax_sim.compression import top_k, with_compression
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError


def client_step(model, x, c, ci, steps, lr):
  """One client's SCAFFOLD update `(y - x, c_i+ - c_i)` and its new `c_i`."""
  corrected = lambda g, w: jax.tree.map(lambda gi, cg, cc: gi + cg - cc, g, c, ci)
  y, _ = local_sgd(model, x, steps, lr, corrected)
  new_ci = jax.tree.map(lambda a, b, xx, yy: a - b + (xx - yy) / (len(steps) * lr),
                        ci, c, x, y)
  return jax.tree.map(np.subtract, y, x), jax.tree.map(np.subtract, new_ci, ci), new_ci


def reference_round(model, x, c, controls, data, ids, key, plan, lr, server_lr):
  """One SCAFFOLD round (option II); updates `controls` (a dict) in place."""
  clients_key, _ = round_keys(key)
  num_clients = data.num_clients
  deltas, control_deltas = [], []
  for cid in ids:
    steps = real_steps(data, cid, clients_key, plan)
    if not steps:  # nothing to train on: c_i unchanged, no contribution
      continue
    delta, control_delta, controls[cid] = client_step(model, x, c, controls[cid], steps, lr)
    deltas.append(delta)
    control_deltas.append(control_delta)
  mean_delta = jax.tree.map(lambda *d: sum(d) / len(d), *deltas)
  x = jax.tree.map(lambda a, d: a + server_lr * d, x, mean_delta)
  c = jax.tree.map(lambda a, *dc: a + sum(dc) / num_clients, c, *control_deltas)
  return x, c


@pytest.mark.parametrize('strategy,chunk', [('vmap', 1), ('chunked', 2), ('sequential', 1),
                                           ('lanes', 2)])
def test_scaffold_two_rounds_match_python_loop(ragged_data, tiny_mlp, strategy, chunk):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, server_lr = 0.3, 0.8
  rounds = [[3, 0, 2], [1, 3, 2]]  # client 3 twice; client 2 has no examples
  algorithm = scaffold(tiny_mlp, lr, optax.sgd(server_lr), ragged_data.num_clients,
                       clients_per_round=3)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=1)  # 6, 1, 0, 2 steps
  round_fn = build_round(algorithm, plan, strategy, chunk)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  x = to_numpy(params)
  c = jax.tree.map(np.zeros_like, x)
  controls = {cid: c for cid in range(ragged_data.num_clients)}
  for r, ids in enumerate(rounds):
    key = jax.random.PRNGKey(10 + r)
    x, c = reference_round(tiny_mlp, x, c, controls, ragged_data, ids, key, plan,
                           lr, server_lr)
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, x)
    assert_trees_close(state.server.control, c)
    for cid, ci in controls.items():
      assert_trees_close(jax.tree.map(lambda a: a[cid], state.clients), ci)
  assert max(np.abs(a).max() for a in jax.tree.leaves(controls[3])) > 1e-3


def top_k_numpy(x, fraction):
  """`x` with all but its round(fraction * size) (at least 1) largest
  magnitudes set to zero."""
  flat = np.asarray(x, np.float64).ravel()
  keep = np.argsort(-np.abs(flat), kind='stable')[:max(1, round(fraction * flat.size))]
  sent = np.zeros_like(flat)
  sent[keep] = flat[keep]
  return sent.reshape(np.shape(x))


def compressed_reference_round(model, x, c, controls, residuals, data, ids, key, plan,
                               lr, server_lr, fraction):
  """A SCAFFOLD round whose clients upload top-k of `(delta, control delta) +
  residual` and keep the rest; updates `controls` and `residuals` in place."""
  clients_key, _ = round_keys(key)
  zeros = jax.tree.map(np.zeros_like, x)
  sent_deltas, sent_controls, trained = [], [], 0
  for cid in ids:
    steps = real_steps(data, cid, clients_key, plan)
    update = (zeros, zeros)
    if steps:
      *update, controls[cid] = client_step(model, x, c, controls[cid], steps, lr)
      trained += 1
    # Weight 1 even when empty: it uploads its residual, with `trained` = 0.
    upload = jax.tree.map(np.add, tuple(update), residuals[cid])
    sent = jax.tree.map(lambda u: top_k_numpy(u, fraction), upload)
    residuals[cid] = jax.tree.map(np.subtract, upload, sent)
    sent_deltas.append(sent[0])
    sent_controls.append(sent[1])
  x = jax.tree.map(lambda a, *d: a + server_lr * sum(d) / trained, x, *sent_deltas)
  c = jax.tree.map(lambda a, *dc: a + sum(dc) / data.num_clients, c, *sent_controls)
  return x, c


@pytest.mark.parametrize('strategy', ['vmap', 'lanes'])
def test_scaffold_with_top_k_and_error_feedback_matches_python_loop(ragged_data, tiny_mlp,
                                                                    strategy):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  lr, server_lr, fraction = 0.3, 0.8, 0.25
  rounds = [[3, 0, 2], [1, 3, 2]]  # client 3 twice; client 2 has no examples
  algorithm = with_compression(
      scaffold(tiny_mlp, lr, optax.sgd(server_lr), ragged_data.num_clients, 3),
      top_k(fraction), error_feedback=True)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=1)  # 6, 1, 0, 2 steps
  round_fn = build_round(algorithm, plan, strategy, 2)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  x = to_numpy(params)
  c = jax.tree.map(np.zeros_like, x)
  controls = {cid: c for cid in range(ragged_data.num_clients)}
  residuals = {cid: (c, c) for cid in range(ragged_data.num_clients)}
  for r, ids in enumerate(rounds):
    key = jax.random.PRNGKey(10 + r)
    x, c = compressed_reference_round(tiny_mlp, x, c, controls, residuals, ragged_data,
                                      ids, key, plan, lr, server_lr, fraction)
    state, metrics = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, x)
    assert_trees_close(state.server.control, c)
    stored_controls, stored_residuals = state.clients
    for cid in range(ragged_data.num_clients):
      row = lambda tree: jax.tree.map(lambda a: a[cid], tree)  # noqa: E731
      assert_trees_close(row(stored_controls), controls[cid])
      assert_trees_close(row((stored_residuals.delta, stored_residuals.control_delta)),
                         residuals[cid])
      assert float(row(stored_residuals.trained)) == 0.  # the flag is sent whole
  assert max(np.abs(a).max() for a in jax.tree.leaves(residuals[3])) > 1e-3


def test_scaffold_needs_plain_sgd(tiny_mlp):
  config = scaffold_config.get_config()
  config.client.optimizer.momentum = 0.9
  with pytest.raises(ConfigError, match='scaffold needs client.optimizer sgd without '
                     'momentum, got name=.sgd., momentum=0.9'):
    build_algorithm(config, tiny_mlp, 20)
