"""`lstm_layer.LSTM` has `nn.RNN(nn.LSTMCell)`'s parameters, outputs and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.models.char_lstm import LSTMLanguageModel
from fedjax_sim.models.lstm_layer import LSTM


class _Reference(nn.Module):
  """The model as it was: `nn.RNN(nn.LSTMCell)` layers."""
  widths: tuple[int, ...]
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for width in self.widths:
      x = nn.RNN(nn.LSTMCell(width, param_dtype=self.param_dtype))(x)
    return x


class _Fused(nn.Module):
  widths: tuple[int, ...]
  unroll: int = 1

  @nn.compact
  def __call__(self, x):
    for k, width in enumerate(self.widths):
      x = LSTM(width, self.unroll, name=f'LSTMCell_{k}')(x)
    return x


@pytest.mark.parametrize('unroll', [1, 3])
def test_lstm_matches_nn_rnn_lstm_cell_params_outputs_and_gradients(unroll):
  widths = (16, 16)
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 5))
  ct = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 16))
  ref, new = _Reference(widths), _Fused(widths, unroll)
  params = ref.init(jax.random.PRNGKey(0), x)
  # Same tree, same initial values.
  jax.tree.map(np.testing.assert_array_equal, params, new.init(jax.random.PRNGKey(0), x))
  np.testing.assert_allclose(new.apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)

  def grads(model):
    return jax.grad(lambda p, x: jnp.sum(model.apply(p, x) * ct), (0, 1))(params, x)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
               grads(new), grads(ref))
  # Forward mode (jvp: jacfwd, Hessian-vector products of rounds) as well.
  tangents = jax.tree.map(lambda a: jnp.cos(a + 1.), (params, x))

  def jvp(model):
    return jax.jvp(model.apply, (params, x), tangents)[1]

  np.testing.assert_allclose(jvp(new), jvp(ref), rtol=1e-5, atol=1e-5)
  # Reverse over reverse: the gradient of the input gradient's squared norm.
  def second(model):
    input_grad = lambda x: jax.grad(lambda x: jnp.sum(model.apply(params, x) * ct))(x)  # noqa: E731
    return jax.grad(lambda x: jnp.sum(input_grad(x) ** 2))(x)

  np.testing.assert_allclose(second(new), second(ref), rtol=1e-4, atol=1e-5)

  # And in the parameters (the recurrent weights' tangent goes through the
  # layer's materialised W_h^T): the gradient of the weight gradient's norm.
  def second_in_params(model):
    weight_grad = lambda p: jax.grad(lambda p: jnp.sum(model.apply(p, x) * ct))(p)  # noqa: E731
    return jax.grad(lambda p: sum(jnp.sum(g ** 2) for g in jax.tree.leaves(weight_grad(p))))(
        params)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
               second_in_params(new), second_in_params(ref))
  # Under jit and vmap (clients) too, each client with its own parameters.
  xs = jnp.stack([x, -x])
  out = jax.jit(jax.vmap(new.apply, (None, 0)))(params, xs)
  np.testing.assert_allclose(out[1], ref.apply(params, -x), rtol=1e-5, atol=1e-5)
  both = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
  client_grads = jax.jit(jax.vmap(lambda p, x: jax.grad(
      lambda p: jnp.sum(new.apply(p, x) * ct))(p)))(both, xs)
  half = jax.tree.map(lambda a: 0.5 * a, params)
  expected = jax.grad(lambda p: jnp.sum(ref.apply(p, -x) * ct))(half)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a[1], b, rtol=1e-5, atol=1e-5),
               client_grads, expected)


def test_language_model_keeps_the_nn_rnn_values():
  vocab = 20
  model = LSTMLanguageModel(vocab, embed_dim=4, hidden=(8, 8))
  x = jax.random.randint(jax.random.PRNGKey(3), (2, 9), 1, vocab)
  params = model.init(jax.random.PRNGKey(0), x)
  assert set(params['params']) == {'Embed_0', 'LSTMCell_0', 'LSTMCell_1', 'Dense_0'}

  def reference(p, x):
    h = p['params']['Embed_0']['embedding'][x]
    for k in range(2):
      h = nn.RNN(nn.LSTMCell(8)).apply({'params': {'cell': p['params'][f'LSTMCell_{k}']}}, h)
    d = p['params']['Dense_0']
    return h @ d['kernel'] + d['bias']

  np.testing.assert_allclose(model.apply(params, x), reference(params, x), rtol=1e-5, atol=1e-5)
  loss = lambda f: jax.grad(lambda p: jnp.sum(jnp.sin(f(p, x))))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
               loss(model.apply), loss(reference))


def _sin_grads(model, params, x):
  """The parameters' gradient of `sum(sin(model(x)))`."""
  return jax.grad(lambda p: jnp.sum(jnp.sin(model.apply(p, x))))(params)


def test_gradient_runs_two_time_loops_per_layer():
  """The forward loop and its transpose: the tangent loop has no primal work
  that autodiff would split off into a third loop (it did before the step's
  tangent coefficients were computed outside it)."""
  model = _Fused((16, 16))
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 5))
  params = model.init(jax.random.PRNGKey(0), x)
  grad = jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))
  assert str(jax.make_jaxpr(grad)(params)).count('scan[') == 4


@pytest.mark.parametrize('shape', [(1, 1, 5), (2, 0, 5), (4, 5)])
def test_batch_one_length_one_empty_and_unbatched_sequences(shape):
  x = jax.random.normal(jax.random.PRNGKey(1), shape)
  ref, new = _Reference((6, 4)), _Fused((6, 4))
  params = ref.init(jax.random.PRNGKey(0), x)
  np.testing.assert_allclose(new.apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-6)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               _sin_grads(new, params, x), _sin_grads(ref, params, x))


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.float64])
def test_lstm_keeps_its_dtype_with_x64_and_matches_nn_rnn_in_float64(dtype):
  """Under `jax.enable_x64` (float64 gradient checks), float32 parameters stay
  float32 and float64 ones match `nn.RNN(nn.LSTMCell)` to float64 precision."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 5), dtype)
    ref, new = _Reference((6, 4), dtype), _Fused((6, 4))
    params = ref.init(jax.random.PRNGKey(0), x)
    tol = 1e-12 if dtype == jnp.float64 else 1e-5
    out = new.apply(params, x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref.apply(params, x), rtol=tol, atol=tol)

    got, want = _sin_grads(new, params, x), _sin_grads(ref, params, x)
    assert {a.dtype for a in jax.tree.leaves(got)} == {jnp.dtype(dtype)}
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=tol, atol=tol), got, want)
