"""The im2col convolution and the CNN equal lax.conv references, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.errors import ConfigError
from fedjax_sim.models import get_model
from fedjax_sim.models.tap_conv import tap_conv


@pytest.mark.parametrize('shape,kernel', [((2, 9, 7, 3), (3, 3, 3, 5)),
                                          ((1, 6, 6, 1), (2, 3, 1, 4))])
def test_tap_conv_equals_lax_conv(shape, kernel):
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(keys[0], shape)
  k = jax.random.normal(keys[1], kernel)
  b = jax.random.normal(keys[2], kernel[-1:])

  def reference(x, k, b):
    return jax.lax.conv_general_dilated(x, k, (1, 1), 'VALID',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + b

  np.testing.assert_allclose(tap_conv(x, k, b), reference(x, k, b), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
  for got, want in zip(jax.grad(loss(tap_conv), (0, 1, 2))(x, k, b),
                       jax.grad(loss(reference), (0, 1, 2))(x, k, b)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # Forward mode too (jvp, hence jacfwd and Hessians of rounds through a CNN).
  tangents = tuple(jax.random.normal(key, a.shape) for key, a in
                   zip(jax.random.split(keys[0], 3), (x, k, b)))
  for got, want in zip(jax.jvp(tap_conv, (x, k, b), tangents),
                       jax.jvp(reference, (x, k, b), tangents)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _lax_conv(x, k, b, strides, padding):
  y = jax.lax.conv_general_dilated(x, k, strides, padding,
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return y if b is None else y + b


@pytest.mark.parametrize('shape,kernel,strides,padding,bias', [
    ((2, 9, 7, 3), (3, 3, 3, 5), (1, 1), 'SAME', True),
    ((2, 8, 8, 4), (3, 3, 4, 6), (2, 2), 'SAME', False),   # even size, stride 2
    ((2, 9, 7, 4), (3, 3, 4, 6), (2, 2), 'SAME', False),   # odd sizes, stride 2
    ((2, 8, 8, 4), (1, 1, 4, 6), (2, 2), 'SAME', False),   # ResNet's 1x1 projection
    ((2, 9, 8, 3), (3, 3, 3, 4), (2, 1), 'VALID', True),
    ((1, 5, 5, 2), (2, 2, 2, 3), (1, 1), 'SAME', True),    # even kernel: uneven padding
])
def test_strided_and_same_padded_tap_conv_equals_lax_conv(shape, kernel, strides, padding,
                                                          bias):
  keys = jax.random.split(jax.random.PRNGKey(3), 3)
  x = jax.random.normal(keys[0], shape)
  k = jax.random.normal(keys[1], kernel)
  b = jax.random.normal(keys[2], kernel[-1:]) if bias else None
  got_fn = lambda x, k, b: tap_conv(x, k, b, strides, padding)  # noqa: E731
  want_fn = lambda x, k, b: _lax_conv(x, k, b, strides, padding)  # noqa: E731
  np.testing.assert_allclose(got_fn(x, k, b), want_fn(x, k, b), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
  argnums = (0, 1, 2) if bias else (0, 1)
  for got, want in zip(jax.grad(loss(got_fn), argnums)(x, k, b),
                       jax.grad(loss(want_fn), argnums)(x, k, b)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_resnet18_gn_implementations_share_parameters_results_and_gradients():
  options = {'width': 4, 'groups': 2, 'blocks': (1, 1, 1, 1)}
  taps = get_model('resnet18_gn', 10, dict(options, conv='taps'))
  xla = get_model('resnet18_gn', 10, dict(options, conv='xla'))
  x = jax.random.normal(jax.random.PRNGKey(4), (2, 15, 15, 3))  # odd: uneven SAME padding
  params = taps.init(jax.random.PRNGKey(0), x)
  # The tree (names, shapes) and initial values of nn.Conv's: checkpoints fit both.
  jax.tree.map(np.testing.assert_array_equal, params, xla.init(jax.random.PRNGKey(0), x))
  np.testing.assert_allclose(taps.apply(params, x, None), xla.apply(params, x, None),
                             rtol=1e-5, atol=1e-5)
  loss = lambda m: lambda p, x: jnp.sum(jnp.sin(m.apply(p, x, None)))  # noqa: E731
  got = jax.grad(loss(taps), (0, 1))(params, x)
  want = jax.grad(loss(xla), (0, 1))(params, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)


def test_cnn_implementations_share_parameters_and_results():
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 28, 28, 1))
  taps = get_model('cnn', 62, {'conv': 'taps'})
  xla = get_model('cnn', 62, {'conv': 'xla'})
  params = taps.init(jax.random.PRNGKey(0), x)
  jax.tree.map(np.testing.assert_array_equal, params, xla.init(jax.random.PRNGKey(0), x))
  np.testing.assert_allclose(taps.apply(params, x, None), xla.apply(params, x, None),
                             rtol=1e-5, atol=1e-5)


def test_unknown_conv_implementation_is_a_config_error():
  model = get_model('cnn', 62, {'conv': 'fft'})
  with pytest.raises(ConfigError, match="model.options.conv must be one of"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))


def test_cnn_equals_a_lax_conv_and_max_pool_reference_with_gradients():
  # The CNN's own pooling (reshape + max) and im2col convolution against
  # lax.conv and flax's max_pool, on 27x27 inputs (odd pooled size: the
  # last row and column are dropped, as VALID pooling does).
  import flax.linen as nn
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 27, 27, 1))
  model = get_model('cnn', 5, {'conv': 'taps'})
  params = model.init(jax.random.PRNGKey(0), x)

  def reference(p, x):
    for name in ('Conv_0', 'Conv_1'):
      x = nn.relu(jax.lax.conv_general_dilated(
          x, p[name]['kernel'], (1, 1), 'VALID',
          dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + p[name]['bias'])
    x = nn.max_pool(x, (2, 2), strides=(2, 2)).reshape(x.shape[0], -1)
    x = nn.relu(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
    return x @ p['Dense_1']['kernel'] + p['Dense_1']['bias']

  np.testing.assert_allclose(model.apply(params, x, None), reference(params, x),
                             rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda p: jnp.sum(jnp.sin(f(p)))  # noqa: E731
  got = jax.grad(loss(lambda p: model.apply(p, x, None)))(params)
  want = jax.grad(loss(lambda p: reference(p, x)))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), got, want)
