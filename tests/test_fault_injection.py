"""Fault injection: NaN from a chosen client, kills at random points, Ctrl-C."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default, scaffold
from fedjax_sim.rundir import runlog
from fedjax_sim.config import experiment as train_lib
from fedjax_sim.core import build_round, init_state
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.errors import DivergedError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.schedule import sample_and_round_keys
from fedjax_sim.config.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def poisoned(algorithm, bad_client):
  """`algorithm` whose update from `bad_client` is NaN."""

  def client_update(server, state, batches, key):
    result = algorithm.client_update(server, state, batches, key)
    nan = jnp.where(batches.client_id == bad_client, jnp.nan, 0.)
    return result._replace(update=jax.tree.map(lambda u: u + nan, result.update))

  return algorithm._replace(client_update=client_update)


@pytest.mark.parametrize('strategy', ['vmap', 'sequential'])
def test_dropping_a_nan_client_equals_a_round_without_it(strategy):
  config = scaffold.get_config()  # clients keep state (control variates)
  exp = build_experiment(config)
  data = exp.dataset.train
  plan = plan_batches(data.max_examples, config.client.batch_size, 1)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  ids = jnp.array([3, 7, 11, 12], jnp.int32)
  key = jax.random.PRNGKey(5)
  fresh = lambda: jax.tree.map(jnp.copy, init_state(exp.algorithm, params, data.num_clients))
  dropping = build_round(poisoned(exp.algorithm, 7), plan, strategy, 1, drop_nonfinite=True)
  clean = build_round(exp.algorithm, plan, strategy, 1)
  before = jax.tree.map(np.asarray, fresh())
  dropped, metrics = dropping(fresh(), data, ids, key)
  expected, _ = clean(fresh(), data, ids[jnp.array([0, 2, 3])], key)
  assert int(metrics['nonfinite_clients']) == 1 and bool(metrics['server_finite'])
  np.testing.assert_array_equal(metrics['clients']['finite'], [True, False, True, True])
  assert float(metrics['clients']['weight'][1]) == 0.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               dropped.server, expected.server)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               dropped.clients, expected.clients)  # client 7's state is unchanged
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[7], b[7]),
               dropped.clients, before.clients)
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(dropped))


def samples(config):
  """The clients each round samples."""
  exp = build_experiment(config)
  return [np.asarray(exp.sample_fn(sample_and_round_keys(config.seed, r)[0])).tolist()
          for r in range(config.rounds)]


def test_a_nan_client_stops_the_run_naming_round_client_and_checkpoint(tmp_path, monkeypatch):
  config = default.get_config()
  config.rounds, config.eval_every, config.checkpoint.every = 12, 4, 1
  bad = 13
  sampled = samples(config)
  round_number = 1 + [bad in ids for ids in sampled].index(True)
  assert round_number > 1
  build = train_lib.build_algorithm
  monkeypatch.setattr(train_lib, 'build_algorithm',
                      lambda *args: poisoned(build(*args), bad))
  workdir = str(tmp_path / 'run')
  with pytest.raises(DivergedError) as info:
    train(config, log=lambda line: None, workdir=workdir)
  last = round_number - 1
  assert str(info.value) == (
      f'round {round_number}: non-finite update from client(s) [{bad}] (1 of '
      f'{config.clients_per_round} sampled); last good checkpoint: round {last} in '
      f'{workdir}/checkpoints/{last}; lower the learning rates, or set '
      "on_nonfinite='drop' to drop such clients")
  norms = runlog.read_jsonl(os.path.join(workdir, 'client_norms.jsonl'))
  assert [r['round'] for r in norms] == list(range(1, round_number))  # nothing after

  # Without a workdir a round's flags are read after the next round is
  # queued; the diverged round is still the one named.
  with pytest.raises(DivergedError, match=f'^round {round_number}: non-finite update from '
                     rf'client\(s\) \[{bad}\] .*; no checkpoint \(run without --workdir\);'):
    train(config, log=lambda line: None)

  config.on_nonfinite = 'drop'
  history = train(config, log=lambda line: None)
  assert [h['dropped_clients'] for h in history] == [
      sum(bad in ids for ids in sampled[:end]) for end in (4, 8, 12)]
  assert all(np.isfinite(h['test_loss']) for h in history)
  # Resumed after a drop, the count goes on from the recorded rounds.
  dropping = str(tmp_path / 'drop')
  train(config, log=lambda line: None, workdir=dropping)
  volatile = lambda rows: [{k: v for k, v in r.items()  # noqa: E731
                            if k not in ('time', 'rounds_per_sec')} for r in rows]
  want = volatile(runlog.read_jsonl(os.path.join(dropping, 'metrics.jsonl')))
  for step in (11, 12):
    shutil.rmtree(os.path.join(dropping, 'checkpoints', str(step)))
  train(config, log=lambda line: None, workdir=dropping, resume=True)
  assert volatile(runlog.read_jsonl(os.path.join(dropping, 'metrics.jsonl'))) == want
  assert want[-1]['dropped_clients'] > 0


def test_nonfinite_server_state_stops_the_run(monkeypatch):
  config = default.get_config()
  config.rounds = 3
  build = train_lib.build_algorithm

  def broken_server(*args):
    algorithm = build(*args)
    update = lambda server, aggregate: jax.tree.map(
        lambda a: a * jnp.nan, algorithm.server_update(server, aggregate))
    return algorithm._replace(server_update=update)

  monkeypatch.setattr(train_lib, 'build_algorithm', broken_server)
  with pytest.raises(DivergedError, match=r'^round 1: the server state is not finite after '
                     r'aggregation; no checkpoint \(run without --workdir\); lower the '
                     r'learning rates$'):
    train(config, log=lambda line: None)


def kill_trials(out_dir, trials: int, seed: int, *mode: str) -> dict:
  """`tests/kill_trials.py`'s report, after checking every trial resumed to
  an identical end."""
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'kill_trials.py'),
                           str(out_dir), str(trials), str(seed), *mode], capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  assert len(report['trials']) == trials
  assert [t for t in report['trials'] if not t['identical']] == []
  # A run stops itself where its kill aims, however loaded the host: inside a
  # write, or between rounds just after a write.
  for aim, where in (('write', 'during'), ('after_write', 'between')):
    assert {t['killed'] for t in report['trials'] if t['aim'] == aim} == {where}
  return report


def test_kills_between_rounds_and_inside_checkpoint_writes_resume_identically(tmp_path):
  report = kill_trials(tmp_path, 6, 0)
  # Two kills each: at a seeded moment, inside a seeded write, just after a
  # seeded write. (A kill between a write and its checksums, a window of about
  # a millisecond, is the missing-checksums case of tests/test_workdir.py.)
  assert [t['aim'] for t in report['trials']] == ['at', 'write', 'after_write'] * 2
  # The runs are on the virtual clock, with rounds that lost clients.
  clock = report['reference_clock']
  times = [t for t, _ in clock]
  assert len(clock) == 12 and times == sorted(times) and times[0] > 0
  assert min(n for _, n in clock) < 5


def test_fedbuff_runs_killed_at_seeded_moments_resume_identically(tmp_path):
  report = kill_trials(tmp_path, 3, 1, 'fedbuff')  # one of each aim
  assert any(t['resumed'] for t in report['trials'])
  # Asynchronous: the clock moves and reports arrive stale.
  clock = report['reference_clock']
  assert len(clock) == 12 and [t for t, _ in clock] == sorted(t for t, _ in clock)
  assert max(staleness for _, staleness in clock) > 0


def test_disk_population_runs_killed_at_seeded_moments_resume_identically(tmp_path):
  report = kill_trials(tmp_path, 3, 2, 'disk')  # one of each aim
  assert any(t['resumed'] for t in report['trials'])
  # SCAFFOLD's controls were compared from the store's files.
  assert len(os.listdir(tmp_path / 'reference' / 'population')) > 1


def test_ctrl_c_checkpoints_reports_and_exits_130(tmp_path):
  workdir = str(tmp_path / 'run')
  command = [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), f'--workdir={workdir}',
             '--config.rounds=2000', '--config.eval_every=1000', '--progress=none']
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  norms = os.path.join(workdir, 'client_norms.jsonl')
  deadline = time.time() + 300
  while len(runlog.read_jsonl(norms)) < 3:
    assert proc.poll() is None and time.time() < deadline, proc.communicate()
    time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 130, err
  done = len(runlog.read_jsonl(norms))
  assert err.strip().splitlines()[-1] == (
      f'interrupted after round {done}; continue with --resume')
  assert os.listdir(os.path.join(workdir, 'checkpoints')) == [str(done)]
  assert os.path.exists(os.path.join(workdir, 'report.html'))
  resumed = subprocess.Popen(command + ['--resume', '--progress=lines'], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  line = resumed.stdout.readline()
  assert line == f'resumed {workdir} after round {done}\n'
  resumed.send_signal(signal.SIGTERM)  # a second stop signal works the same way
  _, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 130 and 'interrupted after round' in err, err
