"""Benchmark models (ResNet-18 GN, LSTM/Transformer language models, tag
logistic regression) and their tasks: parameter counts by hand, sequence and
multi-label metrics against NumPy, and one FedAvg round of each model."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core import build_round, init_state
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.federated_data import from_client_arrays
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation.metrics import evaluate, evaluate_clients
from fedjax_sim.models import Model, get_model, masked_loss
from fedjax_sim.models.tasks import MultiLabel, NextToken


def num_params(params):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def lstm_params(inputs, hidden):
  # Four gates, each with input and recurrent kernels and one bias.
  return 4 * (inputs * hidden + hidden * hidden + hidden)


def test_resnet18_gn_has_the_cifar100_parameter_count():
  def conv(cin, cout, k=3):
    return k * k * cin * cout  # no bias: every conv is followed by GroupNorm

  def gn(c):
    return 2 * c

  expected = conv(3, 64) + gn(64)
  cin = 64
  for width in (64, 128, 256, 512):
    for block in range(2):
      expected += conv(cin, width) + gn(width) + conv(width, width) + gn(width)
      if cin != width:
        expected += conv(cin, width, 1) + gn(width)
      cin = width
  expected += 512 * 100 + 100
  assert expected == 11_220_132  # the usual CIFAR ResNet-18 size
  model = get_model('resnet18_gn', 100)
  x = jnp.ones((2, 32, 32, 3))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  assert num_params(params) == expected
  assert jax.eval_shape(model.apply, params, x, None).shape == (2, 100)


def test_lstm_language_models_parameter_counts_and_shapes():
  vocab = 86 + 4  # Shakespeare characters + pad, BOS, EOS, OOV
  model = get_model('char_lstm', vocab)
  x = jnp.zeros((2, 80), jnp.int32)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  expected = vocab * 8 + lstm_params(8, 256) + lstm_params(256, 256) + 256 * vocab + vocab
  assert num_params(params) == expected == 820_522
  assert jax.eval_shape(model.apply, params, x, None).shape == (2, 80, vocab)
  assert isinstance(model.task, NextToken)
  # Unrolling the time loop changes the program, not the values.
  x = jax.random.randint(jax.random.PRNGKey(1), (2, 80), 1, vocab)
  params = model.init(jax.random.PRNGKey(0), x)
  unrolled = get_model('char_lstm', vocab, {'unroll': 8})
  np.testing.assert_allclose(unrolled.apply(params, x, None), model.apply(params, x, None),
                             rtol=1e-5, atol=1e-5)

  vocab = 10_000 + 4
  nwp = get_model('nwp_lstm', vocab)
  params = jax.eval_shape(nwp.init, jax.random.PRNGKey(0), jnp.zeros((1, 20), jnp.int32))
  expected = vocab * 96 + lstm_params(96, 670) + (670 * 96 + 96) + (96 * vocab + vocab)
  assert num_params(params) == expected == 4_050_748  # as in Reddi et al. 2021


def test_transformer_parameter_count_shapes_and_causality():
  vocab, d, mlp, layers, max_len = 11, 16, 24, 2, 8
  model = get_model('transformer', vocab, {'num_layers': layers, 'num_heads': 2,
                                           'dim': d, 'mlp_dim': mlp, 'max_len': max_len})
  x = jnp.array([[3, 4, 5, 6, 0, 0], [7, 1, 2, 0, 0, 0]], jnp.int32)
  params = model.init(jax.random.PRNGKey(0), x)
  block = 2 * d + 4 * (d * d + d) + 2 * d + (d * mlp + mlp) + (mlp * d + d)
  expected = max_len * d + vocab * d + layers * block + 2 * d + d * vocab + vocab
  assert num_params(params) == expected
  logits = model.apply(params, x, None)
  assert logits.shape == (2, 6, vocab)
  # Changing a later token leaves the earlier positions' logits unchanged.
  changed = model.apply(params, x.at[:, 3].set(9), None)
  np.testing.assert_allclose(changed[:, :3], logits[:, :3], atol=1e-5)
  assert not np.allclose(changed[:, 3], logits[:, 3])
  with pytest.raises(ConfigError, match='model.options.max_len'):
    model.apply(params, jnp.zeros((1, max_len + 1), jnp.int32), None)


def test_tag_logreg_parameter_count():
  model = get_model('tag_logreg', 7, {'vocab_size': 50})
  x = jnp.zeros((3, 4, 2))  # (word id, weight) pairs of a sparse bag of words
  params = model.init(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, params) == {'kernel': (50, 7), 'bias': (7,)}
  assert num_params(params) == 50 * 7 + 7
  assert model.apply(params, x, None).shape == (3, 7)
  assert model.task == MultiLabel(5)
  with pytest.raises(ConfigError, match='model.options.task.top_k must be'):
    get_model('tag_logreg', 7, {'task': {'top_k': 0}})


def lookup_model(task, vocab):
  """A bigram model: logits at each position are the row of its input token."""
  return Model(lambda key, x: jax.random.normal(key, (vocab, vocab)),
               lambda w, x, rng=None: w[x], vocab, task)


# Pad 0; ids 5 and 6 play OOV and EOS (unscored).
SEQ_X = np.array([[1, 2, 3, 4, 2], [3, 1, 4, 0, 0], [2, 2, 6, 0, 0]], np.int32)
SEQ_Y = np.array([[2, 3, 5, 2, 6], [1, 4, 0, 0, 0], [2, 6, 0, 0, 0]], np.int32)


def numpy_sequence_sums(w, x, y, unscored):
  logits = np.asarray(w, np.float64)[x]
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  loss, correct, scored, real = 0., 0, 0, 0
  for b in range(x.shape[0]):
    for t in range(x.shape[1]):
      if y[b, t] == 0:
        continue
      real += 1
      loss -= logp[b, t, y[b, t]]
      if y[b, t] not in unscored:
        scored += 1
        correct += int(np.argmax(logits[b, t]) == y[b, t])
  return loss, correct, scored, real


def test_sequence_loss_and_accuracy_skip_padding_and_unscored_tokens():
  model = lookup_model(NextToken((5, 6)), 7)
  w = model.init(jax.random.PRNGKey(3), None)
  # Make some predictions right (token 2 -> 3, token 1 -> 4) and one of them
  # an unscored target (token 3 -> 5 is predicted right but never counted).
  w = w.at[2, 3].set(9.).at[1, 4].set(9.).at[3, 5].set(9.)
  mask = np.array([True, True, False])
  loss, correct, scored, real = numpy_sequence_sums(w, SEQ_X[:2], SEQ_Y[:2], (5, 6))
  assert (real, scored) == (7, 5)
  got = masked_loss(model, w, {'x': SEQ_X, 'y': SEQ_Y}, jnp.asarray(mask))
  np.testing.assert_allclose(got, loss / real, rtol=1e-6)

  loss, correct, scored, real = numpy_sequence_sums(w, SEQ_X, SEQ_Y, (5, 6))
  evals = evaluate(model, w, {'x': jnp.asarray(SEQ_X), 'y': jnp.asarray(SEQ_Y)}, 2)
  np.testing.assert_allclose(evals['loss'], loss / real, rtol=1e-6)
  np.testing.assert_allclose(evals['accuracy'], correct / scored, rtol=1e-6)
  assert 0 < correct < scored

  data = from_client_arrays([{'x': SEQ_X[:2], 'y': SEQ_Y[:2]},
                             {'x': SEQ_X[2:], 'y': SEQ_Y[2:]}])
  per_client = [numpy_sequence_sums(w, SEQ_X[s], SEQ_Y[s], (5, 6))
                for s in (slice(0, 2), slice(2, 3))]
  evals = evaluate_clients(model, w, data, 2)
  np.testing.assert_allclose(evals['loss'],
                             np.mean([c[0] / c[3] for c in per_client]), rtol=1e-6)
  np.testing.assert_allclose(evals['accuracy'],
                             np.mean([c[1] / c[2] for c in per_client]), rtol=1e-6)


def test_multilabel_sigmoid_loss_and_recall_at_k():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 6)).astype(np.float32)
  y = np.array([[1, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]],
               np.float32)
  model = Model(lambda key, x: jax.random.normal(key, (6, 5)),
                lambda w, x, rng=None: x @ w, 5, MultiLabel(2))
  w = model.init(jax.random.PRNGKey(0), None)
  logits = x.astype(np.float64) @ np.asarray(w, np.float64)
  p = 1 / (1 + np.exp(-logits))
  losses = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(1)
  top2 = np.argsort(-logits, 1)[:, :2]
  hits = sum(y[i, top2[i]].sum() for i in range(4))
  mask = jnp.array([True, True, True, False])
  np.testing.assert_allclose(masked_loss(model, w, {'x': x, 'y': y}, mask),
                             losses[:3].mean(), rtol=1e-5)
  evals = evaluate(model, w, {'x': jnp.asarray(x), 'y': jnp.asarray(y)}, 3)
  np.testing.assert_allclose(evals['loss'], losses.mean(), rtol=1e-5)
  np.testing.assert_allclose(evals['accuracy'], hits / y.sum(), rtol=1e-6)


def tiny_client_data(name, rng):
  """Two clients (2 and 1 examples) shaped for model `name`."""
  def client(n):
    if name == 'resnet18_gn':
      return {'x': rng.normal(size=(n, 8, 8, 3)).astype(np.float32),
              'y': rng.integers(0, 10, n).astype(np.int32)}
    if name == 'tag_logreg':  # 3 distinct word ids of 12 per example, weighted
      words = np.stack([rng.permutation(12)[:3] for _ in range(n)])
      return {'x': np.stack([words, rng.random((n, 3))], -1).astype(np.float32),
              'y': (rng.random((n, 10)) < 0.3).astype(np.float32)}
    tokens = rng.integers(1, 10, (n, 7)).astype(np.int32)
    tokens[0, 5:] = 0  # padding at the end of the first sequence
    return {'x': tokens[:, :-1], 'y': tokens[:, 1:]}
  return from_client_arrays([client(2), client(1)], name)


@pytest.mark.parametrize('name,options', [
    ('resnet18_gn', {'width': 4, 'blocks': (1, 1, 1, 1)}),
    ('char_lstm', {'embed_dim': 4, 'hidden': (8, 8)}),
    ('nwp_lstm', {'hidden': (8,), 'projection': 4, 'embed_dim': 4}),
    ('transformer', {'num_layers': 1, 'num_heads': 2, 'dim': 8, 'mlp_dim': 8,
                     'max_len': 6}),
    ('tag_logreg', {'vocab_size': 12}),
])
def test_one_fedavg_round_equals_weighted_client_gradients(name, options):
  # One local SGD step on all of a client's examples, then plain averaging:
  # the new model is params - lr * (count-weighted mean of client gradients).
  data = tiny_client_data(name, np.random.default_rng(1))
  model = get_model(name, 10, options)
  params = model.init(jax.random.PRNGKey(0), jnp.asarray(data.examples['x'][0, :1]))
  lr = 0.1
  algorithm = fedavg(model, optax.sgd(lr), optax.sgd(1.))
  round_fn = build_round(algorithm, plan_batches(data.max_examples, 2, 1, 0))
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), 2)
  state, metrics = round_fn(state, data, jnp.array([0, 1], jnp.int32),
                            jax.random.PRNGKey(5))
  loss_and_grad = jax.jit(jax.value_and_grad(masked_loss, argnums=1), static_argnums=0)
  grads, losses = [], []
  for cid in range(2):  # all of a client's rows, the padding ones masked out
    batch = {k: jnp.asarray(v[cid]) for k, v in data.examples.items()}
    mask = jnp.arange(data.max_examples) < data.counts[cid]
    loss, g = loss_and_grad(model, params, batch, mask)
    grads.append(g)
    losses.append(float(loss))
  want = jax.tree.map(lambda p, g0, g1: p - lr * (2 * g0 + g1) / 3, params, *grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
               state.server.params, want)
  np.testing.assert_allclose(metrics['clients']['train_loss'], losses, rtol=1e-4)
