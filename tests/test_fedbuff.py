"""FedBuff (asynchronous buffered aggregation) against a float64 event-driven
Python loop, against synchronous FedAvg when nothing is stale, and its
settings' errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from client_loop_reference import assert_trees_close, local_sgd, real_steps, to_numpy
from configs import default
from fedbuff_reference import eight_clients, event_loop, run
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.behaviour import fedbuff
from fedjax_sim.config.train import train
from fedjax_sim.core import build_round, init_state
from fedjax_sim.errors import ConfigError

LR, SERVER_LR = 0.3, 0.8


def test_fedbuff_matches_an_event_driven_python_loop(ragged_data, tiny_mlp):
  """FedAvg under FedBuff on ragged clients (one empty) against the float64
  event loop: the model, and each update's mean staleness and virtual time."""
  settings = fedbuff.Settings(buffer_size=2, concurrency=4, staleness='polynomial',
                              exponent=0.5)
  algorithm = fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(SERVER_LR))
  params, plan, state, log = run(ragged_data, tiny_mlp, algorithm, settings, programs=9)

  def train_client(server, client, clients_key, drawn):
    local, _ = local_sgd(tiny_mlp, server, real_steps(ragged_data, client, clients_key, plan),
                         LR)
    return jax.tree.map(np.subtract, local, server), float(ragged_data.counts[client])

  def step(server, reports, factors):
    total = sum(w for _, w in reports)
    mean = jax.tree.map(lambda *u: sum(f * w * ui for f, (_, w), ui in zip(factors, reports, u))
                        / max(total, 1e-30), *[u for u, _ in reports])
    return jax.tree.map(lambda w, d: w + SERVER_LR * d, server, mean)

  clock = []
  versions = event_loop(ragged_data, plan, settings, log, to_numpy(params), train_client, step,
                        clock)
  assert [entry[4][1] for entry in log] == [0] + list(range(1, 9))  # one program fills
  assert_trees_close(state.server.params, versions[-1])
  stale, times = zip(*clock)
  np.testing.assert_allclose([entry[4][0] for entry in log[1:]], stale, rtol=1e-6)
  np.testing.assert_allclose([entry[4][2] for entry in log[1:]], times, rtol=1e-5)
  assert max(stale) > 0  # reports did arrive stale, so the weighting was exercised


def test_reports_all_dropped_as_nonfinite_move_the_clock_not_the_model(tiny_mlp):
  """Every client's update is NaN and dropped (`on_nonfinite='drop'`): each
  server step takes K reports of weight 0, so the virtual clock runs and new
  clients start while the model stays exactly as it was."""
  settings = fedbuff.Settings(buffer_size=2, concurrency=4)
  algorithm = fedavg(tiny_mlp, optax.sgd(float('nan')), optax.sgd(SERVER_LR))
  params, _, state, log = run(eight_clients(), tiny_mlp, algorithm, settings, programs=5,
                              drop_nonfinite=True)
  times = [entry[4][2] for entry in log]
  assert times[-1] > times[1] > 0 and [entry[4][1] for entry in log] == [0] * 5
  assert len({tuple(entry[0]) for entry in log}) == 5  # each program trained new clients
  jax.tree.map(np.testing.assert_array_equal, state.server.params, params)


def test_with_k_equal_to_the_clients_in_flight_it_is_synchronous_fedavg(ragged_data,
                                                                         tiny_mlp):
  settings = fedbuff.Settings(buffer_size=3, concurrency=3, staleness='constant')
  algorithm = fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(SERVER_LR))
  params, plan, state, log = run(ragged_data, tiny_mlp, algorithm, settings, programs=5)
  sync, round_fn = init_state(algorithm, params, 6), build_round(algorithm, plan)
  for ids, key, _, _, (staleness, _, _) in log:
    assert staleness == 0
    sync, _ = round_fn(sync, ragged_data, jnp.asarray(ids), key)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=2e-6),
               state.server.params, sync.server.params)


@pytest.mark.parametrize('kind,taus,expected', [
    ('constant', [0, 3, 20], [1., 1., 1.]),
    ('polynomial', [0, 3, 8], [1., 0.5, 1 / 3]),
    ('hinge', [0, 10, 12], [1., 1., 1 / 3]),  # exponent 1, hinge 10: 1 / (1 * 2 + 1)
])
def test_staleness_factors_follow_the_paper(kind, taus, expected):
  settings = fedbuff.Settings(staleness=kind, exponent=0.5 if kind == 'polynomial' else 1.)
  np.testing.assert_allclose(fedbuff.staleness_factor(settings, jnp.asarray(taus)), expected,
                             rtol=1e-6)


def small(**fedbuff_section):
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = 6, 3, 5
  config.fedbuff.update(**fedbuff_section)
  return config


def test_a_run_records_the_clock_versions_and_staleness():
  rows = train(small(buffer_size=5, concurrency=10), log=lambda line: None, progress='none')
  assert [r['server_updates'] for r in rows] == [2, 5]  # the first program fills
  assert rows[1]['virtual_time'] > rows[0]['virtual_time'] > 0
  assert rows[1]['mean_staleness'] > 0


@pytest.mark.parametrize('changes,message', [
    ({'fedbuff.concurrency': 7}, 'fedbuff.concurrency must be 0 (clients_per_round) or a '
     'multiple of fedbuff.buffer_size=5 up to the 20 clients, got 7'),
    ({'fedbuff.staleness': 'linear'}, "fedbuff.staleness must be one of ['constant', "
     "'polynomial', 'hinge'], got 'linear'"),
    ({'algorithm': 'fedexp'}, "algorithm='fedexp' is not supported with "
     "fedbuff.buffer_size > 0 (asynchronous FedBuff): fedexp's step needs its clients' side "
     'values'),
    ({'algorithm': 'fednova'}, "algorithm='fednova' is not supported with fedbuff"),
    ({'clock.deadline': 30.}, 'clock.deadline=30.0 is not supported with fedbuff.buffer_size '
     '> 0 (asynchronous FedBuff): there are no rounds to close'),
    ({'clock.over_selection': 0.3}, 'clock.over_selection=0.3 is not supported with fedbuff'),
])
def test_settings_fedbuff_cannot_honour_are_one_clear_error(changes, message):
  config = small(buffer_size=5)
  for field, value in changes.items():
    section, name = field.split('.') if '.' in field else (None, field)
    (config[section] if section else config)[name] = value
  with pytest.raises(ConfigError) as error:
    train(config, log=lambda line: None, progress='none')
  assert str(error.value).startswith(message), str(error.value)
  assert '\n' not in str(error.value)


def test_availability_limits_who_starts_and_empty_slots_wait(tmp_path):
  trace = tmp_path / 'trace.csv'
  trace.write_text('client,start,end\n' + ''.join(f'{c},0,100000\n' for c in range(4)))
  config = small(buffer_size=2, concurrency=6)
  config.clients_per_round = 2
  config.availability.update(kind='trace', trace_file=str(trace))
  rows = train(config, log=lambda line: None, progress='none')
  assert rows[-1]['server_updates'] == 4  # progress, with two placeholder slots
  config.availability.trace_file = str(trace) + '.missing'
  with pytest.raises(ConfigError, match="availability.trace_file=.*: no such file"):
    train(config, log=lambda line: None, progress='none')


def test_fedbuff_settings_section_rejects_unknown_keys():
  config = small(buffer_size=5)
  config.fedbuff = ml_collections.ConfigDict({'buffer': 5})
  with pytest.raises(ConfigError, match=r'fedbuff.buffer is not a setting of fedbuff'):
    train(config, log=lambda line: None, progress='none')
