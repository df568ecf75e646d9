"""FedAvgM / FedAdam / FedYogi / FedAdagrad equal the update rules written in NumPy.

The clients' mean delta comes from plain FedAvg (server SGD lr 1, which
test_round checks against a per-client Python loop); the server rules below
are written out by hand, independent of optax.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import fedadagrad, fedadam, fedavgm, fedyogi  # noqa: E402
from fedjax_sim.algorithms import fedavg  # noqa: E402
from fedjax_sim.core import build_round, init_state  # noqa: E402
from fedjax_sim.data.batching import plan_batches  # noqa: E402
from fedjax_sim.config.sections import from_section
from fedjax_sim.optimizers import OptimizerSettings, make_optimizer  # noqa: E402

LR, B1, B2, EPS, V0 = 0.05, 0.9, 0.99, 1e-3, 1e-6


def momentum_rule(x, g, state, t):
  m = state.get('m', 0.) * B1 + g
  return x - LR * m, {'m': m}


def adam_rule(x, g, state, t):
  m = B1 * state.get('m', 0.) + (1 - B1) * g
  v = B2 * state.get('v', 0.) + (1 - B2) * g * g
  m_hat, v_hat = m / (1 - B1 ** t), v / (1 - B2 ** t)
  return x - LR * m_hat / (np.sqrt(v_hat) + EPS), {'m': m, 'v': v}


def yogi_rule(x, g, state, t):
  m = B1 * state.get('m', V0) + (1 - B1) * g
  v_old = state.get('v', V0)
  v = v_old - (1 - B2) * np.sign(v_old - g * g) * g * g
  m_hat, v_hat = m / (1 - B1 ** t), v / (1 - B2 ** t)
  return x - LR * m_hat / (np.sqrt(v_hat) + EPS), {'m': m, 'v': v}


def adagrad_rule(x, g, state, t):
  v = state.get('v', V0) + g * g
  return x - LR * g / np.sqrt(v + EPS), {'v': v}


CASES = {
    'fedavgm': ({'name': 'sgd', 'learning_rate': LR, 'momentum': B1}, momentum_rule),
    'fedadam': ({'name': 'adam', 'learning_rate': LR, 'b1': B1, 'b2': B2, 'eps': EPS},
                adam_rule),
    'fedyogi': ({'name': 'yogi', 'learning_rate': LR, 'b1': B1, 'b2': B2, 'eps': EPS,
                 'initial_accumulator': V0}, yogi_rule),
    'fedadagrad': ({'name': 'adagrad', 'learning_rate': LR, 'eps': EPS,
                    'initial_accumulator': V0}, adagrad_rule),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_server_optimizer_matches_numpy_rule(ragged_data, tiny_mlp, name):
  cfg, rule = CASES[name]
  plan = plan_batches(ragged_data.max_examples, 4, epochs=1)
  averaging = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  adaptive = fedavg(tiny_mlp, optax.sgd(0.1), make_optimizer(OptimizerSettings(**cfg), 'server.optimizer'))
  mean_delta_round = build_round(averaging, plan)
  adaptive_round = build_round(adaptive, plan)
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  state = init_state(adaptive, jax.tree.map(jnp.copy, params), 6)
  leaves, treedef = jax.tree.flatten(params)
  ref = [np.asarray(a, np.float64) for a in leaves]
  ref_opt = [{} for _ in leaves]
  for t, ids in enumerate([[0, 3, 4], [1, 3, 5], [3, 4, 1]], start=1):
    ids, key = jnp.array(ids, jnp.int32), jax.random.PRNGKey(t)
    start = init_state(averaging, treedef.unflatten(
        [jnp.asarray(a, jnp.float32) for a in ref]), 6)
    averaged, _ = mean_delta_round(start, ragged_data, ids, key)
    deltas = [np.asarray(new, np.float64) - old
              for new, old in zip(jax.tree.leaves(averaged.server.params), ref)]
    stepped = [rule(x, -d, s, t) for x, d, s in zip(ref, deltas, ref_opt)]
    ref, ref_opt = [x for x, _ in stepped], [s for _, s in stepped]
    state, _ = adaptive_round(state, ragged_data, ids, key)
    for got, want in zip(jax.tree.leaves(state.server.params), ref):
      np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize('module', [fedavgm, fedadam, fedyogi, fedadagrad])
def test_configs_select_the_server_optimizer(module):
  config = module.get_config()
  assert config.algorithm == 'fedavg'
  make_optimizer(from_section(config, 'server.optimizer', OptimizerSettings), 'server.optimizer')
  assert module.get_config('synthetic').data.name == 'synthetic'
