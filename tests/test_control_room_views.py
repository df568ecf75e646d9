"""What the control room shows of runs: the per-client table, runs compared
by seed group, hand-broken run files, the live event stream, and the page
with its scripts served locally."""

import json
import os
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from control_room_helpers import settings
from fedjax_sim.control import create_app
from fedjax_sim.control.runs_view import client_table


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
  scripts = re.findall(r'<script src="(/static/[\w.]+\.js)"', page)
  assert scripts[0] == '/static/plotly.min.js' and '/static/main.js' in scripts
  js = client.get('/static/plotly.min.js')
  assert js.status_code == 200 and len(js.content) > 1_000_000
  for script in [*scripts[1:], '/static/events_worker.js']:
    response = client.get(script)
    assert response.status_code == 200 and 'https://' not in response.text, script


def test_the_eta_leaves_out_starting_and_compiling(tmp_path):
  """Issue 28, item 6: a first round that took 100 s (compiling) and rounds
  of 1 s after it give an ETA of 1 s per round left, not 100."""
  from fedjax_sim.control.jobs import Job
  from fedjax_sim.control.runs_view import summary
  job = Job('r', 'default.py', {'rounds': 50}, status='running', started=1000.)

  def eta_at(done, now):
    (tmp_path / 'client_norms.jsonl').write_text(''.join(
        json.dumps({'round': r, 'clients': [], 'norms': []}) + '\n' for r in range(1, done + 1)))
    return summary(str(tmp_path), 'r', job, now=now)['eta']

  assert eta_at(1, 1100.) is None  # the first round seen: the pace starts here
  assert eta_at(3, 1102.) == pytest.approx(47.)
  assert eta_at(10, 1109.) == pytest.approx(40.)
