"""Local train/test split of every client, fine-tune evaluation against a
plain per-client loop, the wiring into training, and bad configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from client_loop_reference import local_sgd, to_numpy
from configs import default
from fedjax_sim.core import init_state, step_key
from fedjax_sim.data.batching import BatchPlan, client_batches
from fedjax_sim.data.client_split import split_clients
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation.personalization import Settings, evaluate_personalized, personalized_sums
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.evaluation import evaluate_state


def rows(data, cid):
  """Client `cid`'s real examples as a set of (x..., y) tuples."""
  n = int(data.counts[cid])
  x, y = np.asarray(data.examples['x'][cid, :n]), np.asarray(data.examples['y'][cid, :n])
  return {tuple(xi) + (int(yi),) for xi, yi in zip(x, y)}


def test_split_is_a_deterministic_disjoint_partition(ragged_data):
  train, test = split_clients(ragged_data, 0.25, seed=0)
  # counts (1, 7, 0, 23, 5, 12): min(ceil(n / 4), n - 1) held out.
  np.testing.assert_array_equal(test.counts, [0, 2, 0, 6, 2, 3])
  np.testing.assert_array_equal(train.counts, [1, 5, 0, 17, 3, 9])
  assert test.max_examples == 6 and train.max_examples == 17
  for cid in range(ragged_data.num_clients):
    assert not rows(train, cid) & rows(test, cid)
    assert rows(train, cid) | rows(test, cid) == rows(ragged_data, cid)
    for part in (train, test):  # padding is zero
      assert not np.asarray(part.examples['x'][cid, int(part.counts[cid]):]).any()
  again = split_clients(ragged_data, 0.25, seed=0)
  jax.tree.map(np.testing.assert_array_equal, (train, test), tuple(again))
  other = split_clients(ragged_data, 0.25, seed=1)
  assert any(rows(other.test, c) != rows(test, c) for c in range(6))


def reference_sums(model, params, personal, train, test, key, steps, batch_size, lr):
  """`[loss, correct, count]` per client of the global and the personalized
  model: a Python loop over clients and over SGD steps."""
  local_rows, tuned_rows = [], []
  for cid in range(train.num_clients):
    start = params if personal is None else jax.tree.map(lambda a: a[cid], personal)
    batch_key, train_key = jax.random.split(jax.random.fold_in(key, cid))
    idx, mask = client_batches(batch_key, int(train.counts[cid]),
                               BatchPlan(steps, batch_size, None))
    x, y = np.asarray(train.examples['x'][cid]), np.asarray(train.examples['y'][cid])
    batches = [({'x': jnp.asarray(x[np.asarray(idx[s])]),
                 'y': jnp.asarray(y[np.asarray(idx[s])])}, np.asarray(mask[s]),
                step_key(train_key, s)) for s in range(steps) if np.asarray(mask[s]).any()]
    tuned, _ = local_sgd(model, to_numpy(start), batches, lr)
    n = int(test.counts[cid])
    tx, ty = test.examples['x'][cid, :n], np.asarray(test.examples['y'][cid, :n])
    for p, out in ((params, local_rows), (tuned, tuned_rows)):
      if not n:
        out.append([0., 0., 0.])
        continue
      p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p)
      logits = np.asarray(model.apply(p32, jnp.asarray(tx), None), np.float64)
      logits -= logits.max(1, keepdims=True)
      nll = -(logits - np.log(np.exp(logits).sum(1, keepdims=True)))[np.arange(n), ty]
      out.append([nll.sum(), np.sum(logits.argmax(1) == ty), n])
  return np.array(local_rows), np.array(tuned_rows)


@pytest.mark.parametrize('personal', [False, True])
def test_finetune_evaluation_matches_python_loop(ragged_data, tiny_mlp, personal):
  split = split_clients(ragged_data, 0.3, seed=0)
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  stacked = None
  if personal:  # a different personal model per client (as Ditto keeps)
    stacked = jax.vmap(lambda k: tiny_mlp.init(k, jnp.zeros((1, 6))))(
        jax.random.split(jax.random.PRNGKey(1), 6))
  key, steps, lr = jax.random.PRNGKey(7), 3, 0.5
  local, tuned = personalized_sums(tiny_mlp, params, stacked, *split, key,
                                   BatchPlan(steps, 2, None), lr, 4)
  ref_local, ref_tuned = reference_sums(tiny_mlp, params, stacked, *split, key,
                                        steps, 2, lr)
  np.testing.assert_allclose(local, ref_local, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(tuned, ref_tuned, rtol=1e-5, atol=1e-5)
  assert not np.allclose(local, tuned)  # fine-tuning changed something
  evals = evaluate_personalized(tiny_mlp, params, stacked, split, key,
                                Settings(0.3, steps, lr), 2)
  has_test = ref_local[:, 2] > 0  # clients 1, 3, 4, 5
  for name, sums in (('local_accuracy', ref_local), ('personalized_accuracy', ref_tuned)):
    want = np.mean(sums[has_test, 1] / sums[has_test, 2])
    np.testing.assert_allclose(evals[name], want, rtol=1e-5)


def small_config(**personalization):
  config = default.get_config('synthetic')
  config.data.num_clients = 6
  config.clients_per_round = 3
  config.personalization.update(personalization)
  return config


def test_training_uses_only_local_train_parts():
  config = small_config(client_test_fraction=0.25, finetune_steps=2)
  exp = build_experiment(config)
  full = build_experiment(small_config()).dataset.train
  train, test = split_clients(full, 0.25, config.seed)
  jax.tree.map(np.testing.assert_array_equal, exp.dataset.train, train)
  assert (np.asarray(test.counts) > 0).all()
  sample = jnp.asarray(exp.dataset.test['x'][:1])
  state = init_state(exp.algorithm, exp.model.init(jax.random.PRNGKey(0), sample), 6)
  evals = evaluate_state(exp, state, 0)
  assert {'local_accuracy', 'personalized_accuracy'} <= set(evals)
  no_finetune = build_experiment(small_config(client_test_fraction=0.25))
  evals = evaluate_state(no_finetune, state, 0)
  assert 'local_accuracy' in evals and 'personalized_accuracy' not in evals
  assert build_experiment(small_config()).personalize is None


@pytest.mark.parametrize('settings,message', [
    ({'client_test_fraction': 1.}, 'personalization.client_test_fraction must be in [0, 1), got 1.0'),
    ({'client_test_fraction': -0.1}, 'personalization.client_test_fraction must be in [0, 1)'),
    ({'client_test_fraction': 0.2, 'finetune_steps': -1},
     'personalization.finetune_steps must be an integer >= 0, got -1'),
    ({'finetune_steps': 5}, 'personalization.client_test_fraction=0.0 is not supported '
                            'with personalization.finetune_steps > 0'),
    ({'client_test_fraction': 0.2, 'finetune_steps': 5, 'learning_rate': 0.},
     'personalization.learning_rate must be > 0, got 0.0'),
])
def test_bad_config_names_the_field(settings, message):
  with pytest.raises(ConfigError) as info:
    build_experiment(small_config(**settings))
  assert message in str(info.value)
