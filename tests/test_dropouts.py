"""Mid-round dropout: the draw, its combination with stragglers, and a run
in which every client drops out leaves the model as it started."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fedjax_sim.behaviour import dropouts
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core import build_round
from fedjax_sim.config.checks import check_config
from fedjax_sim.core.state import init_state
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError, NothingTrainedError
from fedjax_sim.behaviour.stragglers import client_behaviour
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.evaluation import evaluate_state
from fedjax_sim.config.train import train

from configs import default

COUNTS = jnp.array([0, 1, 7, 12, 30, 4, 9, 16, 3, 21], jnp.int32)


def test_clients_drop_out_with_the_probability_after_part_of_their_work():
  plan = plan_batches(30, 4, 1)
  draw = dropouts.draw_fn(0.3, plan)
  ids = jnp.arange(10, dtype=jnp.int32)
  full = -(-np.asarray(COUNTS) // 4)
  dropped = 0
  for r in range(300):
    key = jax.random.fold_in(jax.random.PRNGKey(0), r)
    budgets, reported = map(np.asarray, draw(key, ids, COUNTS))
    np.testing.assert_array_equal(budgets[reported], full[reported])
    lost = ~reported
    assert np.all((budgets[lost] < full[lost]) | (full[lost] == 0))
    dropped += lost.sum()
  assert 0.25 < dropped / 3000 < 0.35  # 0.3 +- 5 binomial standard deviations


def config_with(**dropout):
  config = default.get_config()
  config.dropout.update(dropout)
  return config


def test_no_dropout_draws_nothing_and_bad_probabilities_are_refused():
  assert dropouts.draw_fn(0., plan_batches(30, 4, 1)) is None
  with pytest.raises(ConfigError, match=r'dropout.probability must be a number in \[0, 1\], '
                     r'got 1.5'):
    check_config(config_with(probability=1.5))


def test_behaviours_combine_to_the_smallest_budget_and_all_reports():
  first = lambda key, ids, counts: (jnp.array([3, 1, 4]), jnp.array([True, False, True]))
  second = lambda key, ids, counts: (jnp.array([2, 5, 4]), jnp.array([True, True, False]))
  got = client_behaviour((first, second), None, None, None)
  np.testing.assert_array_equal(got['step_budgets'], [2, 1, 4])
  np.testing.assert_array_equal(got['reported'], [True, False, False])
  assert client_behaviour((), None, None, None) == {}


def test_when_every_client_drops_out_the_model_stays_where_it_started():
  config = default.get_config('synthetic')
  config.rounds, config.eval_every = 3, 1
  config.dropout.probability = 1.
  exp = build_experiment(config, log=lambda line: None)
  params = exp.model.init(jax.random.PRNGKey(config.seed),
                          jnp.asarray(exp.dataset.test['x'][:1]))
  start = evaluate_state(exp, init_state(exp.algorithm, params, 30), 0)
  with pytest.raises(NothingTrainedError, match='no client reported in any of the 3') as e:
    train(config, log=lambda line: None, progress='none')
  assert len(e.value.history) == 3
  for evals in e.value.history:
    assert evals['test_accuracy'] == start['test_accuracy']
    assert evals['test_loss'] == pytest.approx(start['test_loss'], rel=1e-6)
    assert evals['train_loss'] == 0.  # nobody reported


def test_a_round_nobody_reports_leaves_the_server_as_it_was_even_with_momentum(ragged_data,
                                                                            tiny_mlp):
  algorithm = fedavg(tiny_mlp, optax.sgd(0.3), optax.sgd(1., momentum=0.9))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4), 'sequential')
  state = init_state(algorithm, tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6))), 6)
  ids = jnp.asarray([3, 1], jnp.int32)
  state, _ = round_fn(state, ragged_data, ids, jax.random.PRNGKey(1))  # momentum is now set
  before = jax.tree.map(np.asarray, state.server)
  state, _ = round_fn(state, ragged_data, ids, jax.random.PRNGKey(2),
                      step_budgets=jnp.zeros(2, jnp.int32), reported=jnp.zeros(2, bool))
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, state.server), before)
