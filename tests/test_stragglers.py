"""Stragglers: the per-round draw, its modes, determinism and exact resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.behaviour import stragglers
from fedjax_sim.config.checks import check_config
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.train import train

from configs import default

COUNTS = jnp.array([0, 1, 7, 12, 30, 4, 9, 16], jnp.int32)


def steps_of(ids, plan):
  counts = np.asarray(COUNTS)[np.asarray(ids)]
  return -(-plan.epochs * counts // plan.batch_size)


@pytest.mark.parametrize('mode', ['partial', 'drop'])
def test_a_fraction_of_the_sampled_clients_straggle(mode):
  plan = plan_batches(30, 4, 2)
  draw = stragglers.draw_fn(stragglers.Settings(0.5, mode), plan, 6)
  ids = jnp.array([4, 0, 3, 7, 2, 1], jnp.int32)
  full = steps_of(ids, plan)
  seen = set()
  for r in range(20):
    key = jax.random.fold_in(jax.random.PRNGKey(0), r)
    budgets, reported = map(np.asarray, draw(key, ids, COUNTS))
    again = draw(key, ids, COUNTS)
    np.testing.assert_array_equal(budgets, again[0])
    np.testing.assert_array_equal(reported, again[1])
    if mode == 'partial':
      assert reported.all()
      short = budgets < full
      assert short.sum() <= 3 and np.all(budgets[short] >= 1)
      assert np.all(budgets <= full)
    else:
      assert (~reported).sum() == 3  # round(0.5 x 6) clients straggle
      np.testing.assert_array_equal(budgets, np.where(reported, full, 0))
      seen.add(tuple(reported))
  if mode == 'drop':
    assert len(seen) > 5  # who straggles changes from round to round


def test_no_stragglers_leaves_the_round_as_it_was():
  plan = plan_batches(30, 4, 1)
  assert stragglers.draw_fn(stragglers.Settings(0., 'drop'), plan, 10) is None
  assert stragglers.draw_fn(stragglers.Settings(0.04, 'drop'), plan, 10) is None  # rounds to 0


@pytest.mark.parametrize('section, message', [
    ({'fraction': 1.5}, 'stragglers.fraction must be a number in [0, 1], got 1.5'),
    ({'mode': 'late'}, "stragglers.mode must be one of ['partial', 'drop'], got 'late'"),
])
def test_bad_settings_name_the_field(section, message):
  config = default.get_config()
  config.stragglers.update(section)
  with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
    check_config(config)


def straggling_config(rounds):
  config = default.get_config('synthetic')
  config.rounds, config.eval_every = rounds, 2
  config.stragglers.fraction, config.stragglers.mode = 0.5, 'partial'
  return config


def without_timing(history):
  return [{k: v for k, v in evals.items() if k != 'rounds_per_sec'} for evals in history]


def test_stragglers_change_the_run_deterministically_and_resume_exactly(tmp_path):
  quiet = dict(log=lambda line: None, progress='none')
  plain = default.get_config('synthetic')
  plain.rounds, plain.eval_every = 4, 2
  without = without_timing(train(plain, **quiet))
  straight = without_timing(train(straggling_config(4), **quiet))
  assert straight != without
  assert without_timing(train(straggling_config(4), **quiet)) == straight
  first = train(straggling_config(2), workdir=str(tmp_path / 'run'), **quiet)
  resumed = train(straggling_config(4), workdir=str(tmp_path / 'run'), resume=True, **quiet)
  assert without_timing(first + resumed) == straight
