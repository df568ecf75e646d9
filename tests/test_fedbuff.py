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
from fedjax_sim.behaviour import fedbuff
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.train import train
from fedjax_sim.behaviour.system_profiles import Profiles

SPEEDS = [1.3, 0.7, 2.9, 0.45, 1.9, 1.1]  # steps per virtual second, clients 0-5
UPLOADS = [0.3, 0.1, 0.05, 0.2, 0.15, 0.4]
LR, SERVER_LR = 0.3, 0.8


def run(data, model, settings, programs, seed=0):
  """Runs `programs` FedBuff programs; returns the final state and, per
  program, (trained ids, round key, mean staleness, version, virtual time)."""
  plan = plan_batches(data.max_examples, 4, epochs=2)
  algorithm = fedbuff.wrap(
      fedavg(model, optax.sgd(LR), optax.sgd(SERVER_LR)), settings,
      profiles=Profiles(np.float32(SPEEDS), np.float32(UPLOADS)), available=None,
      counts=jnp.asarray(data.counts), plan=plan, seed=seed, idle_wait=60.)
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  state = init_state(algorithm, params, data.num_clients)
  params = jax.tree.map(np.array, params)  # rounds donate the state's buffers
  round_fn, log = build_round(algorithm, plan), []
  for r in range(programs):
    ids = np.asarray(state.server.next_clients)
    key = jax.random.PRNGKey(100 + r)
    state, _ = round_fn(state, data, jnp.asarray(ids), key)
    server = state.server
    log.append((ids, key, float(server.staleness), int(server.version),
                vt.to_float(server.time)))
  return params, plan, state, log


def reference(data, model, params, plan, settings, log):
  """The same schedule as a float64 discrete-event loop: clients train from
  the version they downloaded, report after steps / speed + upload, and
  every K reports (earliest first) update the model by the staleness-weighted
  mean; the clients the run started are taken from `log`."""
  size, concurrency = settings.buffer_size, settings.concurrency
  versions = [to_numpy(params)]
  started = {}  # client -> (start version, report time), while in flight
  flying = []  # [report time, client, start version, update, weight]
  time, stale, times = 0., [], []
  for k, (ids, key, *_) in enumerate(log):
    clients_key, _ = round_keys(key)
    for c in ids:
      version, report = started.setdefault(int(c), (0, time + duration(data, c, plan)))
      local, _ = local_sgd(model, versions[version], real_steps(data, int(c), clients_key, plan),
                           LR)
      flying.append([report, int(c), version, jax.tree.map(np.subtract, local, versions[version]),
                     float(data.counts[c])])
    if k < concurrency // size - 1:
      continue  # still filling the pipeline
    flying.sort(key=lambda f: f[0])
    arrived, flying = flying[:size], flying[size:]
    time = max(f[0] for f in arrived)
    tau = [len(versions) - 1 - f[2] for f in arrived]
    factor = [(1 + t) ** -settings.exponent for t in tau]
    total = sum(f[4] for f in arrived)
    mean = jax.tree.map(lambda *u: sum(s * f[4] * ui for s, f, ui in zip(factor, arrived, u))
                        / max(total, 1e-30), *[f[3] for f in arrived])
    versions.append(jax.tree.map(lambda w, d: w + SERVER_LR * d, versions[-1], mean))
    stale.append(float(np.mean(tau)))
    times.append(time)
    for f in arrived:
      del started[f[1]]
    if k + 1 < len(log):
      for c in log[k + 1][0]:
        assert int(c) not in started, f'client {c} started twice'
        started[int(c)] = (len(versions) - 1, time + duration(data, c, plan))
  return versions[-1], stale, times


def duration(data, client, plan):
  steps = -(-plan.epochs * int(data.counts[client]) // plan.batch_size)
  return np.float32(steps) / np.float32(SPEEDS[client]) + np.float32(UPLOADS[client])


def test_fedbuff_matches_an_event_driven_python_loop(ragged_data, tiny_mlp):
  settings = fedbuff.Settings(buffer_size=2, concurrency=4, staleness='polynomial',
                              exponent=0.5)
  params, plan, state, log = run(ragged_data, tiny_mlp, settings, programs=9)
  expected, stale, times = reference(ragged_data, tiny_mlp, params, plan, settings, log)
  assert [entry[3] for entry in log] == [0] + list(range(1, 9))  # one program fills
  assert_trees_close(state.server.params, expected)
  np.testing.assert_allclose([entry[2] for entry in log[1:]], stale, rtol=1e-6)
  np.testing.assert_allclose([entry[4] for entry in log[1:]], times, rtol=1e-5)
  assert max(stale) > 0  # reports did arrive stale, so the weighting was exercised


def test_with_k_equal_to_the_clients_in_flight_it_is_synchronous_fedavg(ragged_data,
                                                                         tiny_mlp):
  settings = fedbuff.Settings(buffer_size=3, concurrency=3, staleness='constant')
  params, plan, state, log = run(ragged_data, tiny_mlp, settings, programs=5)
  algorithm = fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(SERVER_LR))
  sync, round_fn = init_state(algorithm, params, 6), build_round(algorithm, plan)
  for ids, key, staleness, *_ in log:
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
