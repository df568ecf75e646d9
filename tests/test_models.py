"""Model shapes and parameter counts against the architectures' definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def lenet_reference(params, x):
  """LeNet-5 from lax primitives: SAME convolutions, reduce_window pooling."""
  p = params
  for i in range(2):
    conv = p[f'Conv_{i}']
    x = jax.lax.conv_general_dilated(x, conv['kernel'], (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    x = jax.nn.relu(x + conv['bias'])
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
  x = x.reshape(x.shape[0], -1)
  for i in range(3):
    x = x @ p[f'Dense_{i}']['kernel'] + p[f'Dense_{i}']['bias']
    x = jax.nn.relu(x) if i < 2 else x
  return x


@pytest.mark.parametrize('conv', ['taps', 'xla'])
@pytest.mark.parametrize('size', [28, 8])
def test_lenet5_matches_a_lax_reference(conv, size):
  # conv5x5x1x6 + conv5x5x6x16 + dense(7*7*16 -> 120) + dense(120 -> 84) + dense(84 -> 10).
  model = get_model('lenet5', 10, {'conv': conv})
  x = jax.random.normal(jax.random.PRNGKey(0), (3, size, size, 1))
  params = model.init(jax.random.PRNGKey(1), x)
  side = size // 4
  expected = (25 * 6 + 6) + (25 * 6 * 16 + 16) + (side * side * 16 * 120 + 120) + (
      120 * 84 + 84) + (84 * 10 + 10)
  assert num_params(params) == expected
  if size == 28:
    assert expected == 107786
  np.testing.assert_allclose(model.apply(params, x, None), lenet_reference(params, x),
                             rtol=1e-5, atol=1e-5)
