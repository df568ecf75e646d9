"""Median, trimmed mean and (Multi-)Krum equal NumPy references, through the
real round engine (an empty client, chunk padding), and resist attackers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from configs import default
from fedjax_sim.aggregators.krum import krum
from fedjax_sim.aggregators.median import median
from fedjax_sim.aggregators.trimmed_mean import trimmed_mean
from fedjax_sim.core import ClientResult, FederatedAlgorithm, build_round, init_state
from fedjax_sim.data import plan_batches
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train

IDS = (3, 0, 2, 5, 1)  # client 2 has no examples: absent from every rule


def table(num_clients: int) -> dict[str, np.ndarray]:
  """Fixed per-client updates: two leaves of different shapes."""
  rng = np.random.default_rng(3)
  return {'a': rng.normal(size=(num_clients, 3)).astype(np.float32),
          'b': rng.normal(size=(num_clients, 2, 2)).astype(np.float32)}


def aggregate_in_round(aggregator, data, ids, strategy, chunk_size, seed=0):
  """Runs one engine round where client c sends `table[c]` (weight: its
  example count) and the server state becomes the aggregate."""
  return aggregate_in_rounds(aggregator, data, ids, strategy, chunk_size, [seed])[0]


def aggregate_in_rounds(aggregator, data, ids, strategy, chunk_size, seeds):
  """`aggregate_in_round` once per seed (the round key), compiled once."""
  updates = table(data.num_clients)

  def client_update(server, client_state, batches, key):
    update = {k: jnp.asarray(v)[batches.client_id] for k, v in updates.items()}
    return ClientResult(update, batches.count.astype(jnp.float32), {})

  algorithm = FederatedAlgorithm(lambda params: params, client_update,
                                 lambda server, aggregate: aggregate,
                                 aggregator=aggregator)
  round_fn = build_round(algorithm, plan_batches(data.max_examples, 4),
                         strategy, chunk_size)
  out = []
  for seed in seeds:
    zeros = {k: jnp.zeros(v.shape[1:]) for k, v in updates.items()}  # rounds donate them
    state, metrics = round_fn(init_state(algorithm, zeros, data.num_clients), data,
                              jnp.asarray(ids, jnp.int32), jax.random.PRNGKey(seed))
    out.append((state.server, metrics))
  return out


def present_rows(data, ids):
  """`[k, d]` flattened updates of the sampled clients that have examples."""
  updates = table(data.num_clients)
  flat = np.concatenate([updates['a'], updates['b'].reshape(-1, 4)], axis=1)
  return flat[[i for i in ids if np.asarray(data.counts)[i] > 0]].astype(np.float64)


def flatten(tree) -> np.ndarray:
  return np.concatenate([np.asarray(tree['a']), np.asarray(tree['b']).ravel()])


def reference_krum(rows: np.ndarray, f: int, m: int) -> np.ndarray:
  """Blanchard et al.'s (Multi-)Krum as a Python loop over clients."""
  n = len(rows)
  neighbours = min(max(n - f - 2, 1), n - 1)
  scores = []
  for i in range(n):
    dists = sorted(float(np.sum((rows[i] - rows[j]) ** 2)) for j in range(n) if j != i)
    scores.append(sum(dists[:neighbours]))
  best = np.argsort(scores, kind='stable')[:min(m, n)]
  return rows[best].mean(axis=0)


ENGINES = [('vmap', 1), ('chunked', 4), ('sequential', 1)]  # chunked pads to 8


@pytest.mark.parametrize('strategy,chunk_size', ENGINES)
@pytest.mark.parametrize('ids', [IDS, (0, 4, 5), (4, 2)])
def test_median_matches_numpy(ragged_data, strategy, chunk_size, ids):
  aggregate, metrics = aggregate_in_round(median(), ragged_data, ids, strategy,
                                          chunk_size)
  rows = present_rows(ragged_data, ids)
  np.testing.assert_allclose(flatten(aggregate), np.median(rows, axis=0), rtol=1e-6)
  assert int(metrics['aggregated_clients']) == len(rows)


@pytest.mark.parametrize('strategy,chunk_size', ENGINES)
@pytest.mark.parametrize('beta', [0., 0.25, 0.4])
def test_trimmed_mean_matches_scipy(ragged_data, strategy, chunk_size, beta):
  ids = IDS + (4,)
  aggregate, metrics = aggregate_in_round(trimmed_mean(beta), ragged_data, ids,
                                          strategy, chunk_size)
  rows = present_rows(ragged_data, ids)  # k = 5: trims 0, 1, 2 per side
  np.testing.assert_allclose(flatten(aggregate), stats.trim_mean(rows, beta, axis=0),
                             rtol=1e-5, atol=1e-6)
  assert int(metrics['trimmed_per_side']) == math.floor(beta * 5)


@pytest.mark.parametrize('strategy,chunk_size', ENGINES)
@pytest.mark.parametrize('f,m', [(0, 1), (1, 1), (0, 3), (1, 5)])
def test_krum_matches_python_loop(ragged_data, strategy, chunk_size, f, m):
  ids = IDS + (4,)  # five present clients
  aggregate, metrics = aggregate_in_round(krum(f, m), ragged_data, ids, strategy,
                                          chunk_size)
  rows = present_rows(ragged_data, ids)
  np.testing.assert_allclose(flatten(aggregate), reference_krum(rows, f, m),
                             rtol=1e-5, atol=1e-6)
  assert int(metrics['krum_selected']) == min(m, 5)


def test_krum_never_selects_the_empty_client(ragged_data):
  # The empty client's zero update would be the most central one if counted.
  aggregate, _ = aggregate_in_round(krum(0, 1), ragged_data, IDS, 'vmap', 1)
  rows = present_rows(ragged_data, IDS)
  assert any(np.allclose(flatten(aggregate), row) for row in rows)
  assert not np.allclose(flatten(aggregate), 0.)


@pytest.mark.parametrize('aggregator', [median(), trimmed_mean(0.2), krum(0, 2)])
def test_a_round_of_only_empty_clients_aggregates_to_zero(ragged_data, aggregator):
  aggregate, metrics = aggregate_in_round(aggregator, ragged_data, (2,), 'vmap', 1)
  np.testing.assert_array_equal(flatten(aggregate), 0.)
  assert int(metrics['aggregated_clients']) == 0


@pytest.mark.parametrize('options,message', [
    ({'name': 'trimmed_mean', 'trim_fraction': 0.5},
     'aggregator.trim_fraction must be in [0, 0.5), got 0.5'),
    ({'name': 'trimmed_mean', 'trim_fraction': -0.1},
     'aggregator.trim_fraction must be in [0, 0.5), got -0.1'),
    ({'name': 'krum', 'num_byzantine': 4},
     'aggregator.num_byzantine=4 (with 10 clients per update) is not supported with at most '
     '2 * aggregator.num_byzantine + 2 clients per update'),
    ({'name': 'krum', 'num_byzantine': -1},
     'aggregator.num_byzantine must be an integer >= 0, got -1'),
    ({'name': 'krum', 'num_selected': 0},
     'aggregator.num_selected must be an integer >= 1, got 0'),
    ({'name': 'krum', 'num_selected': 11},
     'aggregator.num_selected=11 exceeds clients_per_round=10'),
])
def test_bad_options_name_the_field(options, message):
  config = default.get_config()
  config.aggregator.update(options)
  with pytest.raises(ConfigError) as info:
    build_experiment(config)
  assert message in str(info.value)


def test_median_and_krum_survive_sign_flip_attackers_that_break_the_mean():
  """Measured: 30% of clients send -4 x their update; 12 rounds on IID digits."""
  accuracy = {}
  for name in ('mean', 'median', 'krum'):
    config = default.get_config()
    config.rounds = config.eval_every = 12
    config.data.partition = 'iid'
    config.attack.update({'kind': 'sign_flip', 'fraction': 0.3, 'scale': 4.})
    config.aggregator.update({'name': name, 'num_byzantine': 3, 'num_selected': 3})
    accuracy[name] = train(config, log=lambda line: None)[-1]['test_accuracy']
  assert accuracy['mean'] < 0.3, accuracy
  assert min(accuracy['median'], accuracy['krum']) > 0.7, accuracy
