"""The control room's security rules, one test each: capped uploads and
bodies, names that cannot leave the runs directory, the token, declared
content types, and scripts/dashboard.py's flags as one clear error."""

import json
import os
import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from control_room_helpers import CSV, CSV_TYPE, ROOT, TOKEN, settings, start
from fedjax_sim.control import create_app


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


def test_short_tokens_are_refused_off_this_machine(tmp_path):
  result = run_dashboard(f'--workdir={tmp_path}', '--host=0.0.0.0', '--port=0', '--token=x')
  assert (result.returncode, result.stdout) == (2, '')
  assert result.stderr.startswith('error: --token has 1 characters; --host=0.0.0.0 listens '
                                  'beyond this machine, so it needs at least 16')
  assert len(result.stderr.strip().split('\n')) == 1
  assert not os.path.exists(tmp_path / '.control.token')


def printed_token(workdir):
  """The token in the URL scripts/dashboard.py prints; the server is then stopped."""
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'scripts', 'dashboard.py'), f'--workdir={workdir}',
       '--port=0'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    line = process.stdout.readline()
  finally:
    process.terminate()
    process.wait(60)
  assert '?token=' in line, line
  return line.split('?token=')[1].split()[0]


def test_the_token_is_kept_across_restarts(tmp_path):
  first = printed_token(tmp_path)
  assert len(first) >= 16
  path = tmp_path / '.control.token'
  assert path.read_text().strip() == first and (path.stat().st_mode & 0o777) == 0o600
  path.chmod(0o644)
  assert printed_token(tmp_path) == first  # open pages and bookmarks keep working
  assert (path.stat().st_mode & 0o777) == 0o600
  path.write_text('short\n')  # too short to keep: a new one is made
  renewed = printed_token(tmp_path)
  assert renewed != first and len(renewed) >= 16
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.control.token')] == [
      '.control.token']  # no temporary file left
