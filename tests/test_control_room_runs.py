"""The control room's runs: form fields become the training script's flags,
and its job runner (with a fake training script) queues, stops, resumes and
extends runs, shows failures, and stops the runs a killed server left; the
other API tests are in test_control_room_*.py, the browser tests in
test_control_room_browser.py."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from control_room_helpers import CONFIGS, FAKE_TRAIN, ROOT, settings, start, wait_status
from fedjax_sim.control import create_app, launch
from fedjax_sim.control.jobs import Job, Runner, read_job
from fedjax_sim.control.runs_view import metrics_rows


# ---- launching ----

def test_form_overrides_become_the_scripts_flags(tmp_path):
  config, typed = launch.resolve(CONFIGS, 'hospitals.py', {
      'rounds': '12', 'client.optimizer.learning_rate': '0.5',
      'data.features': ['mean radius', "it's"]})
  assert typed == {'rounds': 12, 'client.optimizer.learning_rate': 0.5,
                   'data.features': ('mean radius', "it's")}
  assert config.rounds == 12 and config.data.features == ('mean radius', "it's")
  argv = launch.command(Job('r', 'hospitals.py', typed), 'py', 'train.py', CONFIGS,
                        str(tmp_path))
  assert argv[:5] == ['py', 'train.py', f'--config={CONFIGS}/hospitals.py',
                      f'--workdir={tmp_path}/r', '--progress=lines']
  # The real script parses the flags back to the same config.
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
                           *argv[2:3], *argv[5:], '--print_config'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  printed = json.loads(result.stdout)
  assert printed['rounds'] == 12 and printed['client']['optimizer']['learning_rate'] == 0.5
  assert printed['data']['features'] == ['mean radius', "it's"]


@pytest.mark.parametrize('fields, message', [
    ({'rounds': 'ten'}, "rounds='ten': expected int"),
    ({'rounds': '2.5'}, "rounds='2.5': expected int"),
    ({'client.optimizer.learning_rate': 'fast'}, 'expected float'),
    ({'clients_per_round': '0'}, 'clients_per_round'),
    ({'seed': '-1'}, 'seed'),
    ({'data.path': '/etc/passwd'}, 'data.path: the form sets only'),
    ({'engine.strategy': 'vmap'}, 'engine.strategy: the form sets only'),
    ({'data.label': ['x']}, "data.label=['x']: expected str"),
    # What scripts/train.py refuses before its first round, refused before queueing.
    ({'algorithm': 'fedfoo'}, "algorithm must be one of ['ditto', 'fedavg',"),
    ({'clients_per_round': '30'}, 'clients_per_round=30 exceeds data.num_clients=20'),
    ({'model.name': 'nope'}, 'nope'),
])
def test_form_fields_are_validated_like_the_cli(client, fields, message):
  response = start(client, 'bad', **fields)
  assert response.status_code == 400 and message in response.json()['error']
  assert client.get('/api/runs').json()['runs'] == []


def test_unknown_config_is_refused(client):
  response = client.post('/api/runs', json={'name': 'x', 'config': '../setup.py'})
  assert response.status_code == 400 and "config='../setup.py'" in response.json()['error']

# ---- jobs ----

def test_runs_queue_one_after_another_and_finish(client, tmp_path):
  assert start(client, 'first', rounds='4').status_code == 201
  assert start(client, 'second', rounds='3').status_code == 201
  first, second = (wait_status(client, n, ['finished']) for n in ('first', 'second'))
  jobs = [read_job(str(tmp_path / n)) for n in ('first', 'second')]
  assert jobs[0].ended <= jobs[1].started  # never both at once
  assert (first['round'], first['rounds'], second['round']) == (4, 4, 3)
  assert metrics_rows(str(tmp_path / 'first'))[-1]['wall_time'] == pytest.approx(2.)


def test_stop_resume_and_extend(client, tmp_path, monkeypatch):
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  start(client, 'run', rounds='200')
  deadline = time.monotonic() + 30
  while (running := wait_status(client, 'run', ['running']))['eta'] is None:
    assert time.monotonic() < deadline
  assert running['round'] >= 2 and running['eta'] > 0
  assert client.post('/api/runs/run/stop', json={}).status_code == 200
  stopped = wait_status(client, 'run', ['stopped'])
  assert 2 <= stopped['round'] < 200 and stopped['resumable']
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.001')
  assert client.post('/api/runs/run/resume', json={}).status_code == 201
  assert wait_status(client, 'run', ['finished'])['round'] == 200
  response = client.post('/api/runs/run/resume', json={'rounds': 150})
  assert response.status_code == 400 and 'expected an integer in [201, ' in response.json()['error']
  assert client.post('/api/runs/run/resume', json={'rounds': 230}).status_code == 201
  done = wait_status(client, 'run', ['finished'])
  assert (done['round'], done['rounds']) == (230, 230)
  argv = [json.loads(line[5:]) for line in open(tmp_path / 'run' / 'console.log')
          if line.startswith('argv ')]
  assert [a[-1] for a in argv] == ['--config.rounds=200', '--resume', '--resume']
  assert '--config.rounds=230' in argv[-1]
  rounds = [r['round'] for r in metrics_rows(str(tmp_path / 'run'))]
  assert rounds == list(range(1, 231))


def test_failed_run_shows_its_error_line(client):
  start(client, 'unlucky', seed='13')
  failed = wait_status(client, 'unlucky', ['failed'])
  assert failed['error'] == 'error: config.seed=13 is unlucky'
  response = start(client, 'unlucky')
  assert response.status_code == 409 and 'exists' in response.json()['error']


def test_stopping_a_queued_run_removes_it(client, monkeypatch):
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  start(client, 'busy', rounds='100')
  start(client, 'waiting', rounds='3')
  wait_status(client, 'busy', ['running'])
  assert wait_status(client, 'waiting', ['queued'])
  assert client.post('/api/runs/waiting/stop', json={}).status_code == 200
  assert wait_status(client, 'waiting', ['stopped'])['round'] == 0
  assert client.post('/api/runs/waiting/stop', json={}).status_code == 409
  client.post('/api/runs/busy/stop', json={})
  wait_status(client, 'busy', ['stopped'])


def test_a_new_server_marks_runs_left_running_as_stopped(tmp_path):
  os.makedirs(tmp_path / 'orphan')
  runner = Runner(str(tmp_path), lambda job: ['true'])
  job = Job('orphan', 'default.py', {}, status='running')
  runner._save(job)
  runner.close()
  Runner(str(tmp_path), lambda job: ['true']).close()
  assert read_job(str(tmp_path / 'orphan')).status == 'stopped'

# ---- robustness (from review) ----

def test_stop_sends_one_signal_and_the_runner_survives_a_bad_start(client, tmp_path,
                                                                    monkeypatch):
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  start(client, 'run', rounds='100')
  deadline = time.monotonic() + 30
  while wait_status(client, 'run', ['running'])['round'] < 1:
    assert time.monotonic() < deadline
  assert client.post('/api/runs/run/stop', json={}).status_code == 200
  assert client.post('/api/runs/run/stop', json={}).status_code == 200  # a double click
  wait_status(client, 'run', ['stopped'])
  assert '(1 stop signal(s))' in (tmp_path / 'run' / 'console.log').read_text()
  response = client.post('/api/runs/run/resume', json={'rounds': 'many'})
  assert response.status_code == 400 and "rounds='many': expected an integer" in response.text
  # A queued job whose directory vanished fails alone; the next one runs.
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.3')
  start(client, 'busy', rounds='3')
  start(client, 'gone', rounds='2')
  start(client, 'after', rounds='2')
  wait_status(client, 'busy', ['running'])
  shutil.rmtree(tmp_path / 'gone')
  assert wait_status(client, 'after', ['finished'])['round'] == 2


def test_finished_runs_are_extended_not_resumed_and_keep_their_place(client):
  start(client, 'a', rounds='2')
  start(client, 'b', rounds='2')
  wait_status(client, 'b', ['finished'])
  response = client.post('/api/runs/a/resume', json={})
  assert response.status_code == 409 and 'extend it with more rounds' in response.text
  assert client.post('/api/runs/a/resume', json={'rounds': 3}).status_code == 201
  wait_status(client, 'a', ['finished'])
  assert [r['name'] for r in client.get('/api/runs').json()['runs']] == ['a', 'b']


def test_one_server_per_runs_directory_and_orphans_are_stopped(tmp_path):
  os.makedirs(tmp_path / 'orphan')
  env = dict(os.environ, FAKE_ROUND_SECONDS='0.05')
  orphan = subprocess.Popen([sys.executable, FAKE_TRAIN, f'--workdir={tmp_path}/orphan',
                             '--config.rounds=100000'], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  with open(tmp_path / 'orphan' / 'job.json', 'w') as f:
    json.dump(Job('orphan', 'default.py', {}, status='running', pid=orphan.pid).as_json(), f)
  time.sleep(0.5)  # the script has set its signal handler
  with TestClient(create_app(settings(tmp_path))):
    assert orphan.poll() == 130  # stopped after its round, before this server serves
    assert read_job(str(tmp_path / 'orphan')).status == 'stopped'
    with pytest.raises(Exception, match='another control room serves'):
      create_app(settings(tmp_path))
  with TestClient(create_app(settings(tmp_path))):  # the first one is gone
    pass
