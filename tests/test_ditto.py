"""Ditto's global and personal models equal a plain per-client loop over two
rounds with overlapping clients; its evaluation uses the personal models."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from client_loop_reference import (assert_trees_close, local_sgd, real_steps, to_numpy,
                                   weighted_mean)
from configs import default
from fedjax_sim.algorithms.ditto import ditto
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.client_split import split_clients
from fedjax_sim.data.registry import load_dataset
from fedjax_sim.errors import ConfigError
from fedjax_sim.algorithms.ditto import PersonalParams
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.evaluation import evaluate_state

LR, LAM = 0.1, 0.7


def test_two_rounds_match_python_loop(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = ditto(tiny_mlp, optax.sgd(LR), optax.sgd(1.), LAM)
  plan = plan_batches(ragged_data.max_examples, 5)
  round_fn = build_round(algorithm, plan, 'chunked', 2)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  w = to_numpy(params)
  personal = [to_numpy(params) for _ in range(ragged_data.num_clients)]
  for r, ids in enumerate(([3, 0, 5], [5, 1, 3])):  # 3 and 5 train twice
    clients_key, _ = round_keys(jax.random.PRNGKey(r))
    locals_ = []
    for cid in ids:
      steps = real_steps(ragged_data, cid, clients_key, plan)
      locals_.append(local_sgd(tiny_mlp, w, steps, LR)[0])
      personal[cid], _ = local_sgd(  # gradient of loss + LAM/2 ||v - w||^2
          tiny_mlp, personal[cid], steps, LR,
          lambda g, v: jax.tree.map(lambda gi, vi, wi: gi + LAM * (vi - wi), g, v, w))
    w = weighted_mean(locals_, [ragged_data.counts[c] for c in ids])
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32),
                        jax.random.PRNGKey(r))
    assert_trees_close(state.server.params, w)
    for cid in range(ragged_data.num_clients):
      assert_trees_close(jax.tree.map(lambda a: a[cid], state.clients.params),
                         personal[cid])
  # Never-sampled clients keep the initial model; client 2 (empty) too.
  for cid in (2, 4):
    assert_trees_close(jax.tree.map(lambda a: a[cid], state.clients.params), params, 0.)
  # ...and personal models did move away from it (the proximal term is not all).
  assert not np.allclose(jax.tree.leaves(personal[3])[0], jax.tree.leaves(params)[0])
  assert not np.allclose(jax.tree.leaves(personal[3])[0], jax.tree.leaves(w)[0])


def small_ditto_config():
  config = default.get_config('synthetic')
  config.algorithm = 'ditto'
  config.ditto = {'lam': 0.5}
  config.data.num_clients = 6
  config.clients_per_round = 3
  config.personalization.client_test_fraction = 0.25
  return config


@pytest.mark.parametrize('compression', ['none', 'topk'])
def test_personalized_accuracy_evaluates_personal_models(compression):
  # Under top-k with error feedback the client state is (Ditto's, residual):
  # the personal models are still found (`personal_params`), not silently lost.
  config = small_ditto_config()
  config.compression.name = compression
  exp = build_experiment(config)
  sample = jnp.asarray(exp.dataset.test['x'][:1])
  global_params = exp.model.init(jax.random.PRNGKey(0), sample)
  state = init_state(exp.algorithm, global_params, 6)
  personal = jax.vmap(lambda k: exp.model.init(k, sample))(
      jax.random.split(jax.random.PRNGKey(1), 6))
  own = PersonalParams(personal)
  state = state._replace(clients=own if compression == 'none' else (own, state.clients[1]))
  evals = evaluate_state(exp, state, 0)
  full = load_dataset(small_ditto_config().data, 0).train
  test = split_clients(full, 0.25, 0).test
  for name, own in (('personalized_accuracy', True), ('local_accuracy', False)):
    accs = []
    for cid in range(6):
      n = int(test.counts[cid])
      p = jax.tree.map(lambda a: a[cid], personal) if own else global_params
      logits = exp.model.apply(p, jnp.asarray(test.examples['x'][cid, :n]), None)
      accs.append(np.mean(np.argmax(np.asarray(logits), 1)
                          == np.asarray(test.examples['y'][cid, :n])))
    np.testing.assert_allclose(evals[name], np.mean(accs), rtol=1e-5)


@pytest.mark.parametrize('field,value,message', [
    ('ditto.lam', -0.5, 'ditto.lam must be a number >= 0, got -0.5'),
    ('personalization.client_test_fraction', 0.,
     "personalization.client_test_fraction=0.0 is not supported with algorithm='ditto': "
     'ditto evaluates personal models on held-out local data; expected > 0'),
])
def test_bad_config_names_the_field(field, value, message):
  config = small_ditto_config()
  section, _, name = field.rpartition('.')
  config[section][name] = value
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)
