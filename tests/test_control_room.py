"""The control room's API (FastAPI TestClient), its job runner (with a fake
training script) and its security rules; the browser tests are in
test_control_room_browser.py."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fedjax_sim.control import launch
from fedjax_sim.control import Settings, create_app
from fedjax_sim.control.jobs import Job, Runner, read_job
from fedjax_sim.control.runs_view import client_table, metrics_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')
FAKE_TRAIN = os.path.join(ROOT, 'tests', 'fake_train.py')
TOKEN = 's3cret-token'
CSV_TYPE = {'Content-Type': 'text/csv'}


def settings(runs_dir, **kw):
  return Settings(str(runs_dir), CONFIGS, FAKE_TRAIN, **kw)


@pytest.fixture
def client(tmp_path):
  with TestClient(create_app(settings(tmp_path))) as c:
    yield c


def wait_status(client, name, statuses, timeout=30):
  deadline = time.monotonic() + timeout
  while True:
    runs = {r['name']: r for r in client.get('/api/runs').json()['runs']}
    if name in runs and runs[name]['status'] in statuses:
      return runs[name]
    assert time.monotonic() < deadline, f'{name}: {runs.get(name)}'
    time.sleep(0.05)


def start(client, name, **fields):
  return client.post('/api/runs', json={'name': name, 'config': 'default.py',
                                        'fields': fields})


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
  while (running := wait_status(client, 'run', ['running']))['round'] < 2:
    assert time.monotonic() < deadline
  assert running['eta'] is not None and running['eta'] > 0
  assert client.post('/api/runs/run/stop', json={}).status_code == 200
  stopped = wait_status(client, 'run', ['stopped'])
  assert 2 <= stopped['round'] < 200 and stopped['resumable']
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.001')
  assert client.post('/api/runs/run/resume', json={}).status_code == 201
  assert wait_status(client, 'run', ['finished'])['round'] == 200
  response = client.post('/api/runs/run/resume', json={'rounds': 150})
  assert response.status_code == 400 and 'expected more than' in response.json()['error']
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


# ---- views ----

def test_client_table_joins_rounds_and_the_latest_evaluation(tmp_path):
  with open(tmp_path / 'client_norms.jsonl', 'w') as f:
    f.write(json.dumps({'round': 1, 'clients': [2, 0], 'norms': [0.5, None],
                        'train_loss': [1.5, None]}) + '\n')
    f.write(json.dumps({'round': 2, 'clients': [2, 1], 'norms': [0.25, 0.75],
                        'train_loss': [1.25, 2.0]}) + '\n')
  (tmp_path / 'clients.json').write_text(json.dumps({
      'round': 2, 'client': [0, 1, 2, 3], 'name': ['a', 'b', 'c', 'd'],
      'examples': [5, 6, 7, 0], 'accuracy': [0.2, 0.4, 0.6, None],
      'loss': [1., 2., 3., None]}))
  table = client_table(str(tmp_path))
  assert table['round'] == 2
  by_id = {c['client']: c for c in table['clients']}
  assert by_id[2] == {'client': 2, 'name': 'c', 'examples': 7, 'times_sampled': 2,
                      'last_round': 2, 'train_loss': 1.25, 'update_norm': 0.25,
                      'accuracy': 0.6, 'loss': 3.}
  assert by_id[0]['times_sampled'] == 1 and by_id[0]['update_norm'] is None
  assert by_id[3]['times_sampled'] == 0 and by_id[3]['accuracy'] is None


def test_compare_groups_seeds_as_mean_and_std(client, tmp_path):
  for name, seed, lr, acc in [('a0', 0, 0.1, [0.5, 0.7]), ('a1', 1, 0.1, [0.6, 0.9]),
                              ('b0', 0, 0.3, [0.2, 0.4])]:
    os.makedirs(tmp_path / name)
    (tmp_path / name / 'config.json').write_text(json.dumps(
        {'seed': seed, 'rounds': 2, 'client': {'lr': lr}}))
    with open(tmp_path / name / 'metrics.jsonl', 'w') as f:
      for r, a in enumerate(acc, 1):
        f.write(json.dumps({'round': r, 'time': 0., 'accuracy': a, 'rounds_per_sec': 4.}) + '\n')
  body = client.get('/api/compare?run=a0&run=a1&run=b0').json()
  assert body['fields'] == ['client.lr', 'seed'] and 'accuracy' in body['metrics']
  assert [r['config'] for r in body['runs']] == [
      {'client.lr': 0.1, 'seed': 0}, {'client.lr': 0.1, 'seed': 1}, {'client.lr': 0.3, 'seed': 0}]
  groups = {g['label']: g for g in body['groups']}
  curve = groups['client.lr=0.1']['curves']['accuracy']
  np.testing.assert_allclose(curve['mean'], [0.55, 0.8])
  np.testing.assert_allclose(curve['std'], [0.05, 0.1])
  assert groups['client.lr=0.3']['runs'] == ['b0']
  assert [r['wall_time'] for r in body['runs'][0]['rows']] == [0.25, 0.5]
  assert client.get('/api/compare?run=nope').status_code == 404


def test_hand_broken_run_files_are_one_clear_error(client, tmp_path):
  os.makedirs(tmp_path / 'good')
  (tmp_path / 'good' / 'config.json').write_text('{"rounds": 3}')
  os.makedirs(tmp_path / 'cut')
  (tmp_path / 'cut' / 'config.json').write_text('{"rou')
  runs = {r['name']: r for r in client.get('/api/runs').json()['runs']}
  assert runs['good']['error'] is None and runs['good']['rounds'] == 3
  assert runs['cut']['config'] == {} and runs['cut']['error'].startswith(
      'error: cut/config.json is not valid JSON')
  response = client.get('/api/compare?run=good&run=cut')
  assert response.status_code == 409
  assert response.json()['error'].startswith('cut/config.json is not valid JSON')
  os.makedirs(tmp_path / 'job')
  (tmp_path / 'job' / 'job.json').write_text('not json')
  response = client.get('/api/runs')
  assert response.status_code == 409
  assert response.json()['error'].startswith('job/job.json is not valid JSON')


def test_events_stream_the_runs(tmp_path):
  os.makedirs(tmp_path / 'r')
  (tmp_path / 'r' / 'config.json').write_text('{"rounds": 3}')
  with TestClient(create_app(settings(tmp_path))) as c:
    with c.stream('GET', '/api/events') as response:
      assert response.headers['content-type'].startswith('text/event-stream')
      lines = response.iter_lines()
      assert next(lines) == 'event: runs'
      runs = json.loads(next(lines)[len('data: '):])['runs']
  assert [(r['name'], r['status'], r['round'], r['rounds']) for r in runs] == [
      ('r', 'external', 0, 3)]


def test_page_and_plotly_are_served_locally(client):
  page = client.get('/').text
  assert 'https://' not in page and 'http://' not in page
  assert '/static/plotly.min.js' in page and '/static/app.js' in page
  js = client.get('/static/plotly.min.js')
  assert js.status_code == 200 and len(js.content) > 1_000_000
  assert 'https://' not in client.get('/static/app.js').text


# ---- uploads ----

CSV = 'a,b,site,y\n' + ''.join(f'{i},{i % 3},{"xy"[i % 2]},{i % 2}\n' for i in range(20))


def test_upload_is_stored_and_checked(client, tmp_path):
  response = client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  assert response.status_code == 201
  assert response.json()['columns'] == ['a', 'b', 'site', 'y']
  assert (tmp_path / '_data' / 't1.csv').read_text() == CSV
  again = client.post('/api/datasets?name=t1', content='x,y\n1,2\n', headers=CSV_TYPE)
  assert again.status_code == 409 and (tmp_path / '_data' / 't1.csv').read_text() == CSV
  assert [d['name'] for d in client.get('/api/datasets').json()['datasets']] == ['t1']


@pytest.mark.parametrize('body, message', [
    (b'a,b\n1,2\n3\n', 'row 3 has 1 fields, the header has 2'),
    (b'a,b\n\xff\xfe,1\n', 'not UTF-8'),
    (b'a,b\n1,\x002\n', 'NUL bytes'),
    (b'a,b\n', 'expected a header row and data rows'),
])
def test_bad_uploads_are_one_clear_error(client, tmp_path, body, message):
  response = client.post('/api/datasets?name=bad', content=body, headers=CSV_TYPE)
  assert response.status_code == 400 and message in response.json()['error']
  assert os.listdir(tmp_path / '_data') == []


@pytest.mark.parametrize('fields, message', [
    ({'data.label': 'y', 'data.features': ['a', 'site'], 'data.client_column': ''},
     "column 'site': 'x' is not a number"),
    ({'data.label': 'nope'}, "data.label='nope' is not a column"),
    ({'data.label': 'y', 'data.client_column': 'a', 'data.features': ['b']},
     "client '0' has 1 training rows; each needs at least data.min_client_rows=2"),
])
def test_bad_column_choices_are_refused_before_the_run(client, fields, message):
  client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  response = client.post('/api/runs', json={'name': 'r', 'dataset': 't1', 'fields': fields})
  assert response.status_code == 400 and message in response.json()['error'], response.json()
  assert client.get('/api/runs').json()['runs'] == []


@pytest.fixture(scope='module')
def trained_runs(tmp_path_factory):
  """A runs directory with a 2-round hospitals run, and one without a checkpoint."""
  runs = tmp_path_factory.mktemp('runs')
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
                           '--config=configs/hospitals.py', '--config.rounds=2',
                           f'--workdir={runs}/done'], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
  assert result.returncode == 0, result.stderr
  os.makedirs(runs / 'empty')
  (runs / 'empty' / 'config.json').write_text((runs / 'done' / 'config.json').read_text())
  return runs


def test_predict_refuses_bad_rows_and_runs_without_a_model(trained_runs):
  with TestClient(create_app(settings(trained_runs))) as c:
    response = c.post('/api/runs/empty/predict', json={'rows': [[0.] * 30]})
    assert response.status_code == 409 and 'has no checkpoint yet' in response.json()['error']
    info = c.get('/api/runs/done/model').json()
    assert info['inputs'] == 30 and info['class_names'] == ['benign', 'malignant']
    for rows, message in [([[1., 2.]], 'rows[0]: expected 30 finite float32 numbers'),
                          ([[float('nan')] * 30], 'rows[0]: expected 30 finite float32 numbers'),
                          ('x', 'expected a list')]:
      response = c.post('/api/runs/done/predict', content=json.dumps({'rows': rows}),
                        headers={'Content-Type': 'application/json'})
      assert response.status_code == 400 and message in response.json()['error'], response.json()
    response = c.post('/api/runs/done/predict_csv', content='mean radius,other\n1,2\n',
                      headers=CSV_TYPE)
    assert response.status_code == 400
    assert "the uploaded rows lacks 29 of the model's feature columns" in response.json()['error']
    response = c.post('/api/runs/done/predict_csv', content=b'a\n\xff\n', headers=CSV_TYPE)
    assert response.status_code == 400 and 'not UTF-8' in response.json()['error']
    body = c.post('/api/runs/done/predict', json={'rows': [[1.] * 30, [2.] * 30]}).json()
    assert np.allclose(np.sum(body['probabilities'], 1), 1) and body['rounds_done'] == 2


# ---- security ----

def test_uploads_are_capped(tmp_path):
  with TestClient(create_app(settings(tmp_path, max_upload_bytes=100))) as c:
    response = c.post('/api/datasets?name=big', content=CSV, headers=CSV_TYPE)
    assert response.status_code == 413 and 'limit of 100 bytes' in response.json()['error']

    def chunks():  # no Content-Length: the cap holds while streaming
      yield CSV[:80].encode()
      yield CSV[80:].encode()
    response = c.post('/api/datasets?name=big', content=chunks(), headers=CSV_TYPE)
    assert response.status_code == 413
  assert os.listdir(tmp_path / '_data') == []


def test_names_cannot_leave_the_runs_directory(client, tmp_path):
  os.makedirs(tmp_path / 'outside')
  os.symlink(tmp_path / 'outside', tmp_path / 'runs_link')
  for name in ['../x', '..', '.hidden', 'a/b', '/etc', 'x' * 65, '']:
    response = start(client, name)
    assert response.status_code == 400 and 'expected 1-64 letters' in response.json()['error']
  assert client.get('/api/runs/..%2F..%2Fetc/metrics').status_code in (400, 404)
  assert client.post('/api/datasets?name=..', content=CSV, headers=CSV_TYPE).status_code == 400
  response = client.post('/api/runs', json={'name': 'r', 'dataset': '../../etc/passwd'})
  assert response.status_code == 400 and 'dataset=' in response.json()['error']
  assert sorted(os.listdir(tmp_path)) == ['.control.lock', '_data', 'outside', 'runs_link']
  assert os.listdir(tmp_path / '_data') == []


def test_symlinked_runs_outside_are_refused(tmp_path):
  runs, outside = tmp_path / 'runs', tmp_path / 'outside'
  os.makedirs(runs)
  os.makedirs(outside / 'real')
  (outside / 'real' / 'config.json').write_text('{}')
  os.symlink(outside / 'real', runs / 'link')
  with TestClient(create_app(settings(runs))) as c:
    response = c.get('/api/runs/link/metrics')
    assert response.status_code == 400 and 'outside' in response.json()['error']


def test_token_is_required_when_set(tmp_path):
  with TestClient(create_app(settings(tmp_path, token=TOKEN))) as c:
    assert c.get('/api/runs').status_code == 401
    assert c.get('/api/runs', headers={'Authorization': 'Bearer wrong'}).status_code == 401
    assert c.get('/api/runs', headers={'Authorization': f'Bearer {TOKEN}'}).status_code == 200
    assert c.get(f'/api/runs?token={TOKEN}').status_code == 200
    assert c.post('/api/datasets?name=t', content=CSV, headers=CSV_TYPE).status_code == 401
    assert c.get('/').status_code == 200  # the page holds no data


def run_dashboard(*flags):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'dashboard.py'), *flags],
                        capture_output=True, text=True, timeout=120)


def test_other_hosts_need_a_token(tmp_path):
  result = run_dashboard(f'--workdir={tmp_path}', '--host=0.0.0.0', '--port=0')
  assert result.returncode == 2 and result.stdout == ''
  assert result.stderr.strip() == (
      'error: --host=0.0.0.0 listens beyond this machine; set --token (or FEDJAX_SIM_TOKEN) '
      'so that only holders of the token can use it')


def test_missing_workdir_is_one_clear_error():
  result = run_dashboard('--port=0')
  assert result.returncode == 2
  assert result.stderr.strip() == 'error: --workdir is required: the directory of the runs'


@pytest.mark.parametrize('flag, message', [
    ('--port=99999', 'error: flag --port=99999: 99999 is not an integer in the range [0, 65535]'),
    ('--port=abc', "error: flag --port=abc: invalid literal for int() with base 10: 'abc'"),
    ('--max_upload_mb=0', 'error: flag --max_upload_mb=0: 0 is not a positive integer'),
])
def test_bad_flags_are_one_clear_error(tmp_path, flag, message):
  result = run_dashboard(f'--workdir={tmp_path}', flag)
  assert (result.returncode, result.stdout, result.stderr.strip()) == (2, '', message)


def test_a_file_as_workdir_or_a_busy_port_is_one_clear_error(tmp_path):
  file = tmp_path / 'runs'
  file.write_text('not a directory')
  result = run_dashboard(f'--workdir={file}', '--port=0')
  assert (result.returncode, result.stdout, result.stderr.strip()) == (
      2, '', f'error: --workdir={file} cannot hold the runs: File exists; '
             'expected a writable directory')
  with socket.create_server(('127.0.0.1', 0)) as busy:
    port = busy.getsockname()[1]
    result = run_dashboard(f'--workdir={tmp_path / "ok"}', f'--port={port}')
  assert result.returncode == 2 and result.stdout == ''
  assert result.stderr.startswith(f'error: --host=127.0.0.1 --port={port}: Address already in use')
  assert len(result.stderr.strip().split('\n')) == 1


# ---- robustness (from review) ----

def test_posts_must_say_their_content_type(client):
  response = client.post('/api/runs', content=json.dumps({'name': 'x', 'config': 'default.py'}),
                         headers={'Content-Type': 'text/plain'})
  assert response.status_code == 415 and 'application/json' in response.json()['error']
  response = client.post('/api/datasets?name=t', content=CSV,
                         headers={'Content-Type': 'text/plain'})
  assert response.status_code == 415 and 'text/csv' in response.json()['error']
  assert client.get('/api/runs').json()['runs'] == []


def test_json_bodies_are_capped(tmp_path):
  with TestClient(create_app(settings(tmp_path, max_upload_bytes=1000))) as c:
    response = c.post('/api/runs', json={'name': 'x', 'pad': 'x' * 5000})
    assert response.status_code == 413


@pytest.mark.parametrize('body, message', [
    ({'name': 'x', 'config': 'default.py', 'fields': 'xy'}, "fields='xy': expected dict"),
    ({'name': 'x', 'config': ['default.py']}, "config=['default.py']: expected str"),
    ({'name': 'x', 'dataset': 7}, 'dataset=7: expected str'),
])
def test_malformed_bodies_are_one_clear_error(client, body, message):
  response = client.post('/api/runs', json=body)
  assert response.status_code == 400 and response.json()['error'] == message


def test_an_uploaded_table_keeps_its_data_source(client):
  client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  response = client.post('/api/runs', json={'name': 'r', 'dataset': 't1', 'fields': {
      'data.name': 'synthetic', 'data.label': 'y'}})
  assert response.status_code == 400 and response.json()['error'].startswith(
      'data.name: an uploaded data set sets only data.label')


def test_concurrent_uploads_never_replace_a_data_set(tmp_path):
  import asyncio
  from fedjax_sim.control import uploads
  from fedjax_sim.control.safety import Refused

  async def scenario():
    release = asyncio.Event()

    async def slow():
      yield b'a,b\n1,2\n'
      await release.wait()
      yield b'3,4\n'

    async def fast():
      yield CSV.encode()

    first = asyncio.create_task(uploads.store(str(tmp_path), 'u', slow(), 10**6))
    await asyncio.sleep(0.05)  # the slow upload is past its check that 'u' is free
    await uploads.store(str(tmp_path), 'u', fast(), 10**6)
    release.set()
    with pytest.raises(Refused, match="dataset='u' exists already"):
      await first

  asyncio.run(scenario())
  assert (tmp_path / '_data' / 'u.csv').read_text() == CSV
  assert os.listdir(tmp_path / '_data') == ['u.csv']  # no temporary files left


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


def test_predictions_refuse_values_beyond_float32(trained_runs):
  with TestClient(create_app(settings(trained_runs))) as c:
    response = c.post('/api/runs/done/predict', json={'rows': [[1e308] * 30]})
    assert response.status_code == 400 and 'finite float32' in response.json()['error']
