"""Hypergradient descent (`fedjax_sim.hypergrad`, `scripts/hypergrad.py`):
held-out clients validate, learned aggregation weights turn away from
label-flipping clients, and the script runs and refuses bad input."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fedjax_sim import hypergrad
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.behaviour.attacks import flip_labels
from fedjax_sim.data import load_digits, plan_batches
from fedjax_sim.models import get_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_hold_out_pools_the_last_clients_real_examples(ragged_data):
  train, valid = hypergrad.hold_out(ragged_data, 2)
  assert train.num_clients == 4 and list(train.counts) == [1, 7, 0, 23]
  x, counts = np.asarray(ragged_data.examples['x']), ragged_data.counts
  np.testing.assert_array_equal(valid['x'], np.concatenate([x[4, :counts[4]], x[5, :counts[5]]]))
  assert valid['y'].shape == (17,)


def test_learned_weights_turn_away_from_label_flippers():
  data, test = load_digits(10, 'dirichlet', 0.5, seed=0)
  train, valid = hypergrad.hold_out(data, 2)
  bad = np.zeros(8, bool)
  bad[[1, 6]] = True
  poisoned = flip_labels(train, bad, 10)
  model = get_model('mlp', 10, {'hidden': (32,)})
  params = model.init(jax.random.PRNGKey(0), jnp.asarray(test['x'][:1]))
  plan = plan_batches(poisoned.max_examples, 20)
  final = hypergrad.train_episode(
      lambda h: fedavg(model, optax.sgd(0.3), optax.sgd(1.),
                       client_weights=2 * jax.nn.sigmoid(h['logits'])),
      plan, poisoned, differentiable=True)
  valid_loss = hypergrad.validation_loss(model, valid)
  loss_and_grad = jax.jit(jax.value_and_grad(lambda h, ep: valid_loss(final(params, h, ep))))
  episodes = lambda t: hypergrad.episode(jax.random.PRNGKey(t), 8, 8, 3)  # noqa: E731
  learned, losses = hypergrad.descend(loss_and_grad, {'logits': jnp.zeros(8)}, episodes, 8,
                                      optax.adam(0.3))
  weights = np.asarray(2 * jax.nn.sigmoid(learned['logits']))
  assert weights[bad].max() < 0.5 < weights[~bad].mean()
  assert losses[-1] < losses[0]


def test_script_prints_the_learning_rate_table_and_refuses_bad_input():
  script = os.path.join(ROOT, 'scripts', 'hypergrad.py')
  run = lambda *args: subprocess.run([sys.executable, script, *args], capture_output=True,  # noqa
                                     text=True, timeout=600)
  # (the weights experiment's machinery is test_learned_weights_turn_away_from_label_flippers)
  done = run('--experiment=learning_rates', '--num_clients=6', '--held_out=2',
             '--clients_per_round=2', '--rounds=1', '--steps=1', '--eval_episodes=1')
  assert done.returncode == 0, done.stderr[-2000:]
  assert '| grid best of 15 | ' in done.stdout and '| hypergradient | ' in done.stdout
  bad = run('--held_out=20')
  assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
      'error: held_out must be below num_clients=20, got 20']
