"""A run's whole life in the control room (issue 28, items 2, 5 and 10): a
run stopped before its first round (queued, starting, or queued when the
server was killed) starts afresh; Extend takes only the command line's
rounds; runs and data sets are deleted when nothing uses them; the report
is served with its figures."""

import json
import os

import pytest
from fastapi.testclient import TestClient

from control_room_helpers import CSV, CSV_TYPE, TOKEN, settings, start, wait_status
from fedjax_sim.control import create_app
from fedjax_sim.control.jobs import Job


def argv_lines(run_dir):
  return [json.loads(line[5:]) for line in open(run_dir / 'console.log')
          if line.startswith('argv ')]


def test_a_run_stopped_while_queued_starts_afresh(client, tmp_path, monkeypatch):
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  start(client, 'busy', rounds='100')
  start(client, 'waiting', rounds='2')
  wait_status(client, 'busy', ['running'])
  client.post('/api/runs/waiting/stop', json={})
  stopped = wait_status(client, 'waiting', ['stopped'])
  assert (stopped['round'], stopped['resumable'], stopped['deletable']) == (0, True, True)
  client.post('/api/runs/busy/stop', json={})
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.01')
  assert client.post('/api/runs/waiting/resume', json={}).status_code == 201
  done = wait_status(client, 'waiting', ['finished'])
  assert (done['round'], done['rounds']) == (2, 2)
  assert '--resume' not in argv_lines(tmp_path / 'waiting')[-1]  # nothing to resume


@pytest.mark.parametrize('status', ['queued', 'running'])
def test_a_run_the_killed_server_left_before_round_one_starts_afresh(tmp_path, status):
  os.makedirs(tmp_path / 'early' / 'checkpoints')
  (tmp_path / 'early' / 'config.json').write_text('{"rounds": 2, "seed": 0}')  # train.py's
  (tmp_path / 'early' / 'job.json').write_text(json.dumps(
      Job('early', 'default.py', {'rounds': 2}, status=status).as_json()))
  with TestClient(create_app(settings(tmp_path))) as c:
    stopped = wait_status(c, 'early', ['stopped'])
    assert (stopped['round'], stopped['resumable']) == (0, True)
    assert c.post('/api/runs/early/resume', json={}).status_code == 201
    assert wait_status(c, 'early', ['finished'])['round'] == 2
  assert argv_lines(tmp_path / 'early')[-1][-1] == '--config.rounds=2'  # no --resume
  assert not os.path.exists(tmp_path / 'early' / 'checkpoints')


@pytest.mark.parametrize('rounds', [1e9, 2**31, 10**12, True, 2, '5'])
def test_extend_takes_the_command_lines_rounds(client, rounds):
  start(client, 'short', rounds='2')
  wait_status(client, 'short', ['finished'])
  response = client.post('/api/runs/short/resume', json={'rounds': rounds})
  assert response.status_code == 400
  assert response.json()['error'] == (
      f"rounds={rounds!r}: expected an integer in [3, 2147483647] (more than the run's 2 "
      'rounds; round numbers are int32 on the device)')
  assert wait_status(client, 'short', ['finished'])['rounds'] == 2


def test_runs_are_deleted_unless_queued_running_or_external(client, tmp_path, monkeypatch):
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  start(client, 'r', rounds='100')
  wait_status(client, 'r', ['running'])
  response = client.delete('/api/runs/r')
  assert response.status_code == 409 and 'stop it before deleting it' in response.text
  client.post('/api/runs/r/stop', json={})
  wait_status(client, 'r', ['stopped'])
  assert client.delete('/api/runs/r').status_code == 200
  assert not os.path.exists(tmp_path / 'r')
  assert client.get('/api/runs').json()['runs'] == []
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.01')
  assert start(client, 'r', rounds='2').status_code == 201  # the name is free again
  wait_status(client, 'r', ['finished'])
  os.makedirs(tmp_path / 'cli')  # scripts/train.py may still be writing it
  (tmp_path / 'cli' / 'config.json').write_text('{"rounds": 9}')
  response = client.delete('/api/runs/cli')
  assert response.status_code == 409 and 'may still be training' in response.text
  assert os.path.exists(tmp_path / 'cli')


def test_a_data_set_is_deleted_only_when_no_run_trains_on_it(client, tmp_path):
  client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  response = client.post('/api/runs', json={'name': 'on-t1', 'dataset': 't1', 'fields': {
      'data.label': 'y', 'data.features': ['a', 'b'], 'data.client_column': '',
      'data.partition': 'iid', 'data.num_clients': '2', 'clients_per_round': '2',
      'rounds': '2'}})
  assert response.status_code == 201, response.text
  wait_status(client, 'on-t1', ['finished', 'failed'])
  response = client.delete('/api/datasets/t1')
  assert response.status_code == 409 and 'used by run(s) on-t1' in response.text
  assert client.delete('/api/runs/on-t1').status_code == 200
  assert client.delete('/api/datasets/t1').status_code == 200
  assert client.get('/api/datasets').json()['datasets'] == []
  assert client.delete('/api/datasets/t1').status_code == 404


def test_the_report_is_served_with_its_figures(tmp_path):
  run = tmp_path / 'done'
  os.makedirs(run / 'report')
  (run / 'config.json').write_text('{"rounds": 1}')
  (run / 'client_norms.jsonl').write_text('{"round": 1, "clients": [], "norms": []}\n')
  (run / 'report.html').write_text('<img src="report/test_accuracy.png">')
  (run / 'report' / 'test_accuracy.png').write_bytes(b'\x89PNG')
  with TestClient(create_app(settings(tmp_path, token=TOKEN))) as c:
    assert c.get(f'/api/runs?token={TOKEN}').json()['runs'][0]['report'] is True
    page = c.get(f'/api/runs/done/report.html?token={TOKEN}')
    assert page.status_code == 200
    assert page.text == f'<img src="report/test_accuracy.png?token={TOKEN}">'
    figure = c.get(f'/api/runs/done/report/test_accuracy.png?token={TOKEN}')
    assert figure.content == b'\x89PNG'
    assert c.get(f'/api/runs/done/report/..%2Fconfig.json?token={TOKEN}').status_code in (
        400, 404)
