"""`jax.grad` through whole federated rounds (`make_round(differentiable=True)`
and `run_rounds`): the gradient of the validation loss after two rounds,
with respect to the initial parameters and every hyper-parameter, equals
central finite differences in float64 (`tests/gradient_check.py`), with an
empty client and padded chunks in the rounds."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradient_check
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core import build_round, init_state, make_round, run_rounds
from conftest import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4  # relative


def assert_matches(result, devices=1):
  assert result.pop('finite') and result.pop('devices') == devices
  for quantity, (grad, difference) in result.items():
    assert abs(grad - difference) <= TOLERANCE * max(abs(grad), abs(difference)), (
        quantity, grad, difference)
    assert abs(grad) > 1e-6, quantity  # the quantity does move the loss


@pytest.mark.parametrize('algorithm', ['fedavg', 'fedprox', 'fedadam', 'scaffold'])
def test_gradients_match_finite_differences(algorithm):
  with jax.enable_x64(True):
    assert_matches(gradient_check.check(algorithm, 'sequential', 1, on_mesh=False))


def test_gradients_match_finite_differences_on_a_two_device_mesh():
  env = dict(os.environ, XLA_FLAGS=xla_flags('--xla_force_host_platform_device_count=2'))
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'gradient_check.py'),
                           'fedavg,fedprox,fedadam,scaffold', 'sequential', '1', 'mesh'],
                          capture_output=True, text=True, timeout=600, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
  assert len(lines) == 4
  for line in lines:
    assert_matches(json.loads(line), devices=2)


def test_the_differentiable_round_computes_the_same_round(ragged_data, tiny_mlp):
  """Masked fixed-length loops give the rounds of the client's own trip counts."""
  algorithm = fedavg(tiny_mlp, optax.sgd(0.3), optax.sgd(0.9))
  plan = gradient_check.plan_batches(ragged_data.max_examples, 4, epochs=2)
  params = tiny_mlp.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  ids = jnp.asarray(gradient_check.IDS)
  keys = jax.random.split(jax.random.PRNGKey(7), 2)
  pure = make_round(algorithm, plan, 'sequential', differentiable=True)
  scanned, metrics = jax.jit(lambda s: run_rounds(pure, s, ragged_data, ids, keys))(
      init_state(algorithm, params, 6))
  state, fast = init_state(algorithm, params, 6), build_round(algorithm, plan, 'sequential')
  for r in range(2):
    state, last = fast(state, ragged_data, ids[r], keys[r])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               scanned.server.params, state.server.params)
  np.testing.assert_allclose(metrics['train_loss'][-1], last['train_loss'], rtol=1e-5)


def test_safe_norm_is_the_norm_with_a_zero_gradient_at_zero_and_keeps_non_finite_values():
  from fedjax_sim.core.tree_util import safe_norm
  tree = {'a': jnp.asarray([3., 0.]), 'b': jnp.asarray([[4.]])}
  assert float(safe_norm(tree)) == float(optax.tree.norm(tree)) == 5.
  zeros = jax.tree.map(jnp.zeros_like, tree)
  grads = jax.grad(safe_norm)(zeros)
  assert all(np.array_equal(g, np.zeros_like(g)) for g in jax.tree.leaves(grads))
  assert np.isnan(float(safe_norm({'a': jnp.asarray([1., jnp.nan])})))
  assert float(safe_norm({'a': jnp.asarray([1., jnp.inf])})) == np.inf
