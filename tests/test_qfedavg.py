"""q-FedAvg equals a plain per-client loop; q = 0 is uniform FedAvg; the
fairness metrics equal NumPy's; bad q-FedAvg configs name the field."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from client_loop_reference import assert_trees_close, local_sgd, real_steps, to_numpy
from configs import default
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.algorithms.qfedavg import qfedavg
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation.metrics import evaluate_clients, fairness
from fedjax_sim.config.experiment import build_experiment

LR = 0.05


def numpy_loss(model, params, data, cid):
  """Mean cross-entropy (float64) of `params` over client `cid`'s examples."""
  n = int(data.counts[cid])
  logits = np.asarray(model.apply(params, jnp.asarray(data.examples['x'][cid, :n]), None),
                      np.float64)
  logits -= logits.max(1, keepdims=True)
  log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  return -log_probs[np.arange(n), np.asarray(data.examples['y'][cid, :n])].mean()


def reference_round(model, params, data, ids, key, plan, q):
  """q-FedAvg as in the paper, one client at a time (empty clients skipped)."""
  clients_key, _ = round_keys(key)
  lipschitz = 1. / LR
  deltas, hs, losses = [], [], []
  for cid in ids:
    if data.counts[cid] == 0:
      continue
    loss = numpy_loss(model, params, data, cid) + 1e-10
    local, _ = local_sgd(model, params, real_steps(data, cid, clients_key, plan), LR)
    step = jax.tree.map(lambda w, wk: lipschitz * (w - wk), to_numpy(params), local)
    norm2 = sum(np.sum(s ** 2) for s in jax.tree.leaves(step))
    deltas.append(jax.tree.map(lambda s: loss ** q * s, step))
    hs.append(q * loss ** (q - 1) * norm2 + lipschitz * loss ** q)
    losses.append(loss)
  total = jax.tree.map(lambda *d: sum(d), *deltas)
  new = jax.tree.map(lambda w, d: w - d / sum(hs), to_numpy(params), total)
  return new, losses


@pytest.mark.parametrize('q', [0.5, 2.])
def test_round_matches_python_loop(ragged_data, tiny_mlp, q):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = qfedavg(tiny_mlp, LR, q)
  plan = plan_batches(ragged_data.max_examples, 5)
  round_fn = build_round(algorithm, plan)
  ids = [3, 2, 0, 5]  # includes the empty client 2
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  ref = params
  for r in range(2):
    key = jax.random.PRNGKey(r)
    ref, ref_losses = reference_round(tiny_mlp, ref, ragged_data, ids, key, plan, q)
    state, metrics = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), key)
    assert_trees_close(state.server.params, ref, tol=2e-5)
    np.testing.assert_allclose(metrics['clients']['weight'], [1., 0., 1., 1.])
    got = np.asarray(metrics['clients']['global_loss'])[[0, 2, 3]]
    np.testing.assert_allclose(got, ref_losses, rtol=1e-5)


def test_q_zero_is_unweighted_model_averaging(ragged_data, tiny_mlp):
  """q = 0: Delta_k = L (w - w_k), h_k = L, so w <- mean_k w_k, i.e. FedAvg
  with uniform client weights and server SGD at learning rate 1."""
  params = tiny_mlp.init(jax.random.PRNGKey(3), jnp.zeros((1, 6)))
  plan = plan_batches(ragged_data.max_examples, 4)
  ids = jnp.array([4, 1, 3], jnp.int32)
  key = jax.random.PRNGKey(5)
  results = []
  for algorithm in (qfedavg(tiny_mlp, LR, 0.),
                    fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(1.), 'uniform')):
    state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
    state, _ = build_round(algorithm, plan)(state, ragged_data, ids, key)
    results.append(state.server.params)
  assert_trees_close(results[0], results[1], tol=1e-6)
  clients_key, _ = round_keys(key)
  locals_ = [local_sgd(tiny_mlp, params, real_steps(ragged_data, c, clients_key, plan),
                       LR)[0] for c in (4, 1, 3)]
  assert_trees_close(results[0], jax.tree.map(lambda *w: sum(w) / 3, *locals_))


def test_fairness_hand_computed():
  accuracy = jnp.array([0.9, 0.5, 0.0, 1.0, 0.7, 0.2, 0.8, 0.6, 0.9, 0.4, 0.3, 1.0])
  has_data = jnp.array([True] * 2 + [False] + [True] * 9)  # 11 clients: worst 2
  spread = fairness(accuracy, has_data)
  valid = np.delete(np.asarray(accuracy, np.float64), 2)
  np.testing.assert_allclose(spread['std'], valid.std(), rtol=1e-6)
  np.testing.assert_allclose(spread['worst10'], (0.2 + 0.3) / 2, rtol=1e-6)


def test_evaluate_clients_fairness_matches_numpy(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  evals = evaluate_clients(tiny_mlp, params, ragged_data, 4)
  accs = []
  for cid, n in enumerate(np.asarray(ragged_data.counts)):
    if n:
      x = jnp.asarray(ragged_data.examples['x'][cid, :n])
      pred = np.argmax(np.asarray(tiny_mlp.apply(params, x, None)), 1)
      accs.append(np.mean(pred == np.asarray(ragged_data.examples['y'][cid, :n])))
  accs = np.array(accs)  # 5 clients with data: the worst 10% is the worst one
  np.testing.assert_allclose(evals['accuracy'], accs.mean(), rtol=1e-6)
  np.testing.assert_allclose(evals['accuracy_std'], accs.std(), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(evals['accuracy_worst10'], accs.min(), rtol=1e-6)


@pytest.mark.parametrize('field,value,message', [
    ('qfedavg.q', -1., 'qfedavg.q must be a number >= 0, got -1.0'),
    ('client.optimizer.name', 'adam', "qfedavg needs client.optimizer sgd without momentum"),
    ('client.optimizer.momentum', 0.9, "qfedavg needs client.optimizer sgd without momentum"),
    ('client.optimizer.learning_rate', 0., 'client.optimizer.learning_rate must be > 0'),
])
def test_bad_config_names_the_field(field, value, message):
  config = default.get_config()
  config.algorithm = 'qfedavg'
  config.qfedavg = {'q': 1.}
  section, _, name = field.rpartition('.')
  target = config
  for part in section.split('.'):
    target = target[part]
  target[name] = value
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)
