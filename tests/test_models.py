"""Model shapes and parameter counts against the architectures' definitions."""

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.models import get_model


def num_params(params):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def test_logistic_and_mlp_parameter_counts():
  x = jnp.zeros((2, 28, 28, 1))
  logistic = get_model('logistic', 10)
  assert num_params(logistic.init(jax.random.PRNGKey(0), x)) == 784 * 10 + 10
  mlp = get_model('mlp', 10, {'hidden': (200,)})
  params = mlp.init(jax.random.PRNGKey(0), x)
  assert num_params(params) == 784 * 200 + 200 + 200 * 10 + 10
  assert mlp.apply(params, x, None).shape == (2, 10)


def test_emnist_cnn_matches_the_standard_architecture():
  # conv3x3x1x32 + conv3x3x32x64 + dense(12*12*64 -> 128) + dense(128 -> 62).
  cnn = get_model('cnn', 62, {'dropout_rate': 0.25})
  x = jnp.ones((3, 28, 28, 1))
  params = cnn.init(jax.random.PRNGKey(0), x)
  expected = (9 * 32 + 32) + (9 * 32 * 64 + 64) + (12 * 12 * 64 * 128 + 128) + (128 * 62 + 62)
  assert num_params(params) == expected == 1206590
  eval_logits = cnn.apply(params, x, None)
  assert eval_logits.shape == (3, 62)
  # Dropout is active only with an rng, and is deterministic given it.
  a = cnn.apply(params, x, jax.random.PRNGKey(1))
  b = cnn.apply(params, x, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, eval_logits)
