"""Winograd's F(2x2, 3x3) convolution equals lax.conv in float64: values,
gradients, forward mode, second order (to 1e-5 of each array's largest entry: a float32
convolution's sums of hundreds of terms round differently, whatever its
algorithm; Winograd's error there is no larger than im2col's or lax.conv's)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.models import get_model
from fedjax_sim.models.conv_layers import uses_winograd
from fedjax_sim.models.winograd import winograd_conv


def _close(got, want):
  """`got` (float32) within 1e-5 of `want`'s largest entry, entry by entry."""
  got, want = np.asarray(got, np.float64), np.asarray(want)
  np.testing.assert_array_less(np.abs(got - want).max(), 1e-5 * np.abs(want).max())


def _lax_conv(x, k, b, padding):
  lead = x.shape[:-3]
  y = jax.lax.conv_general_dilated(x.reshape((-1,) + x.shape[-3:]), k, (1, 1), padding,
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                   precision='highest')
  y = y.reshape(lead + y.shape[1:])
  return y if b is None else y + b


@pytest.mark.parametrize('shape,cout,padding,bias', [
    ((2, 26, 26, 32), 64, 'VALID', True),   # the EMNIST CNN's second convolution
    ((3, 28, 28, 1), 4, 'VALID', True),     # one input channel
    ((2, 9, 7, 3), 5, 'VALID', False),      # odd outputs (7x5): cropped blocks
    ((2, 9, 8, 3), 5, 'SAME', True),        # SAME, odd and even sides
    ((2, 3, 4, 4, 3), 2, 'SAME', False),    # leading axes (clients, batch)
    ((1, 3, 3, 2), 3, 'VALID', True),       # one output
])
def test_winograd_conv_equals_lax_conv(shape, cout, padding, bias):
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  x = jax.random.normal(keys[0], shape)
  k = jax.random.normal(keys[1], (3, 3, shape[-1], cout)) / np.sqrt(9 * shape[-1])
  b = jax.random.normal(keys[2], (cout,)) if bias else None
  got_fn = lambda x, k, b: winograd_conv(x, k, b, padding)  # noqa: E731
  want_fn = lambda x, k, b: _lax_conv(x, k, b, padding)  # noqa: E731
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
  argnums = (0, 1, 2) if bias else (0, 1)
  tangents = tuple(jax.random.normal(key, a.shape) for key, a in zip(jax.random.split(keys[3], 2),
                                                                    (x, k)))
  dx = lambda f: lambda x, k, b: jax.grad(loss(f))(x, k, b)  # noqa: E731
  results = lambda f: jax.jit(lambda x, k, b, t: (  # noqa: E731
      f(x, k, b), jax.grad(loss(f), argnums)(x, k, b),
      jax.jvp(lambda x, k: f(x, k, b), (x, k), t),
      # second order, as hypergradients through local steps take it
      jax.jvp(lambda x: dx(f)(x, k, b), (x,), t[:1])[1],
      jax.grad(lambda x, k: jnp.vdot(dx(f)(x, k, b), t[0]), (0, 1))(x, k)))
  got = results(got_fn)(x, k, b, tangents)
  with jax.enable_x64(True):
    want = results(want_fn)(*jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)),
                                          (x, k, b, tangents)))
  jax.tree.map(_close, got, want)

def test_winograd_conv_refuses_other_kernels_and_paddings():
  x = jnp.zeros((1, 8, 8, 2))
  with pytest.raises(ValueError, match='3x3 kernel'):
    winograd_conv(x, jnp.zeros((5, 5, 2, 3)))
  with pytest.raises(ValueError, match="'VALID' or 'SAME'"):
    winograd_conv(x, jnp.zeros((3, 3, 2, 3)), padding='FULL')


@pytest.mark.parametrize('algorithm,kernel,strides,padding,size,channels,expected', [
    ('auto', (3, 3), (1, 1), 'VALID', (26, 26), 32, True),    # the EMNIST CNN's conv2
    ('auto', (3, 3), (1, 1), 'VALID', (28, 28), 1, False),    # its conv1: one channel
    ('auto', (3, 3), (1, 1), 'SAME', (8, 8), 64, False),      # few outputs
    ('auto', (3, 3), (1, 1), 'SAME', (16, 16), 16, True),     # at both thresholds
    ('auto', (3, 3), (2, 2), 'SAME', (32, 32), 32, False),    # stride 2
    ('winograd', (3, 3), (1, 1), 'SAME', (4, 4), 1, True),    # asked for, where it applies
    ('winograd', (5, 5), (1, 1), 'SAME', (32, 32), 32, False),
    ('taps', (3, 3), (1, 1), 'VALID', (26, 26), 32, False),
])
def test_which_convolutions_run_by_winograd(algorithm, kernel, strides, padding, size,
                                            channels, expected):
  assert uses_winograd(algorithm, kernel, strides, padding, size, channels) == expected


def test_cnn_auto_runs_conv2_by_winograd_and_equals_lax_conv():
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 28, 28, 1))
  models = {c: get_model('cnn', 62, {'conv': c}) for c in ('auto', 'taps', 'xla')}
  params = models['auto'].init(jax.random.PRNGKey(0), x)
  jax.tree.map(np.testing.assert_array_equal, params,
               models['xla'].init(jax.random.PRNGKey(0), x))
  out = {c: jax.jit(m.apply)(params, x, None) for c, m in models.items()}
  assert not np.array_equal(out['auto'], out['taps'])  # rounding differs: another program
  _close(out['auto'], out['xla'])
  loss = lambda m: lambda p: jnp.sum(jnp.sin(m.apply(p, x, None)))  # noqa: E731
  jax.tree.map(_close, jax.jit(jax.grad(loss(models['auto'])))(params),
               jax.jit(jax.grad(loss(models['xla'])))(params))


def test_resnet_by_winograd_equals_lax_conv_and_auto_keeps_taps_for_small_outputs():
  # At 8x8 every convolution is below WINOGRAD_MIN_OUTPUTS, so auto = taps;
  # 'winograd' still takes the 3x3 stride-1 ones (and taps the rest).
  options = {'width': 4, 'groups': 2, 'blocks': (1, 1, 1, 1)}
  models = {c: get_model('resnet18_gn', 10, dict(options, conv=c))
            for c in ('auto', 'taps', 'winograd', 'xla')}
  x = jax.random.normal(jax.random.PRNGKey(4), (2, 8, 8, 3))
  params = models['auto'].init(jax.random.PRNGKey(0), x)
  out = {c: jax.jit(m.apply)(params, x, None) for c, m in models.items()}
  np.testing.assert_array_equal(out['auto'], out['taps'])
  assert not np.array_equal(out['winograd'], out['taps'])
  _close(out['winograd'], out['xla'])
  loss = lambda m: lambda p: jnp.sum(jnp.sin(m.apply(p, x, None)))  # noqa: E731
  jax.tree.map(_close, jax.jit(jax.grad(loss(models['winograd'])))(params),
               jax.jit(jax.grad(loss(models['xla'])))(params))
