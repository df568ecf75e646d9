"""Sweeps in the control room: a form field holding a list of values starts
a sweep (`--sweep=FIELD=V1,V2` flags, with the command line's checks before
anything is queued), and a sweep's directory is one run in the runs list
with a view (grid, curves, frozen members, member reports) whose numbers
are checked here against the members' metrics.jsonl. The browser test with
a real sweep is in test_control_room_browser_sweep.py."""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from control_room_helpers import CONFIGS, ROOT, TOKEN, settings, start, wait_status
from fedjax_sim.control import create_app, launch
from fedjax_sim.control.jobs import Job, read_job

CLIENT_LR, SERVER_LR = 'client.optimizer.learning_rate', 'server.optimizer.learning_rate'


# ---- starting a sweep from the form ----

def test_a_list_of_values_starts_a_sweep(client, tmp_path):
  response = start(client, 'grid', rounds='3', **{CLIENT_LR: '0.05, 0.2', 'seed': '0,1'})
  assert response.status_code == 201, response.json()
  assert response.json()['sweep'] == {CLIENT_LR: [0.05, 0.2], 'seed': [0, 1]}
  assert response.json()['overrides'] == {'rounds': 3}
  wait_status(client, 'grid', ['finished'])
  argv = json.loads(next(line for line in (tmp_path / 'grid' / 'console.log').read_text()
                         .splitlines() if line.startswith('argv '))[5:])
  assert f'--sweep={CLIENT_LR}=0.05,0.2' in argv and '--sweep=seed=0,1' in argv
  assert not any(a.startswith(f'--config.{CLIENT_LR}') or a.startswith('--config.seed')
                 for a in argv)
  # Resume and extend keep the sweep's flags.
  assert client.post('/api/runs/grid/resume', json={'rounds': 5}).status_code == 201
  wait_status(client, 'grid', ['finished'])
  assert read_job(str(tmp_path / 'grid')).sweep == {CLIENT_LR: [0.05, 0.2], 'seed': [0, 1]}


def test_mu_and_straggler_fraction_lists_sweep_their_product(client):
  response = start(client, 'prox', algorithm='fedprox', **{
      'fedprox.mu': '0, 0.01, 0.1', 'stragglers.fraction': '0.0, 0.5'})
  assert response.status_code == 201, response.json()
  assert response.json()['sweep'] == {'fedprox.mu': [0., 0.01, 0.1],
                                      'stragglers.fraction': [0., 0.5]}
  assert response.json()['overrides'] == {'algorithm': 'fedprox'}
  refused = start(client, 'prox2', **{'stragglers.fraction': '0.5, 1.5'})
  assert refused.status_code == 400 and refused.json()['error'].startswith(
      'sweep member 1 (stragglers.fraction=1.5): '), refused.json()


def test_the_scripts_parse_the_sweep_flags_back(tmp_path):
  config, typed = launch.resolve(CONFIGS, 'default.py', {'rounds': '2'})
  argv = launch.command(Job('s', 'default.py', typed, {CLIENT_LR: [0.05, 0.2], SERVER_LR: [1.]}),
                        sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), CONFIGS,
                        str(tmp_path))
  result = subprocess.run([a for a in argv if not a.startswith(('--workdir', '--progress'))]
                          + ['--print_config'], capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert 'sweep: 2 members in 1 group(s)' in result.stdout


@pytest.mark.parametrize('fields, message', [
    ({CLIENT_LR: '0.1, -1'}, f'sweep member 1 ({CLIENT_LR}=-1.0): {CLIENT_LR} must be > 0, '
                             'got -1.0'),
    ({CLIENT_LR: '0.1, fast'}, f"--sweep={CLIENT_LR}='fast': expected float"),
    ({CLIENT_LR: '0.1,,0.3'}, 'expected FIELD=VALUE,VALUE,...'),
    ({'rounds': '2, 2.5'}, "--sweep=rounds='2.5': expected int"),
    ({'clients_per_round': '5, 30'}, 'sweep member 1 (clients_per_round=30): '
                                     'clients_per_round=30 exceeds data.num_clients=20'),
    ({'seed': '0, 1', 'algorithm': 'fedfoo'}, "algorithm must be one of ['ditto', 'fedavg',"),
])
def test_a_bad_value_in_a_list_is_one_line_and_nothing_is_queued(client, tmp_path, fields,
                                                                 message):
  response = start(client, 'bad', **fields)
  assert response.status_code == 400 and message in response.json()['error'], response.json()
  assert '\n' not in response.json()['error']
  assert client.get('/api/runs').json()['runs'] == [] and not (tmp_path / 'bad').exists()


def test_lists_only_in_the_forms_number_fields(client):
  # A text field keeps its commas (one value); a field off the form is refused.
  response = start(client, 'x', **{'data.label': 'a,b', 'engine.strategy': '1,2'})
  assert response.status_code == 400 and 'engine.strategy: the form sets only' in (
      response.json()['error'])


# ---- viewing a sweep ----

AXES = {CLIENT_LR: [0.05, 0.2], SERVER_LR: [0.5, 1.0, 2.0], 'seed': [0, 1]}
FROZEN = 5  # frozen at round 2: left out of every mean


def accuracy(index, round_number):
  return round(0.1 + 0.07 * index + 0.01 * round_number * (index % 3), 6)


def write_sweep(run_dir, rounds=2):
  """A finished sweep's directory as scripts/train.py writes it (12 members)."""
  members = [dict(zip(AXES, values)) for values in itertools.product(*AXES.values())]
  os.makedirs(run_dir)
  (run_dir / 'config.json').write_text(json.dumps({'rounds': rounds, 'sweep': {'axes': AXES}}))
  (run_dir / 'sweep.json').write_text(json.dumps({'mode': 'product', 'axes': AXES, 'members': [
      {'index': i, 'values': v, 'program': 0, 'dir': f'members/{i:04d}'}
      for i, v in enumerate(members)]}))
  (run_dir / 'frozen.jsonl').write_text(json.dumps(
      {'member': FROZEN, 'round': 2, 'reason': 'test loss is not finite'}) + '\n')
  for i in range(len(members)):
    member = run_dir / 'members' / f'{i:04d}'
    os.makedirs(member)
    last = 1 if i == FROZEN else rounds
    (member / 'client_norms.jsonl').write_text(''.join(json.dumps(
        {'round': r, 'clients': [], 'norms': []}) + '\n' for r in range(1, last + 1)))
    (member / 'metrics.jsonl').write_text(''.join(json.dumps(
        {'round': r, 'test_accuracy': accuracy(i, r), 'test_loss': 1.}) + '\n'
        for r in range(1, last + 1)))
  (run_dir / 'members' / '0000' / 'report.html').write_text('<img src="report/a.png">')
  (run_dir / 'report.html').write_text('<a href="members/0000/report.html">0</a>')
  (run_dir / 'results.json').write_text('[]')
  return members


def test_a_sweep_is_one_run_with_its_view(tmp_path):
  members = write_sweep(tmp_path / 'sw')
  with TestClient(create_app(settings(tmp_path, token=TOKEN))) as c:
    c.headers['Authorization'] = f'Bearer {TOKEN}'
    run, = c.get('/api/runs').json()['runs']
    assert run['status'] == 'finished' and run['round'] == 2
    assert run['sweep']['members'] == 12 and run['sweep']['frozen'] == 1
    assert run['sweep']['member_rounds'] == 23 and run['sweep']['total'] == 24
    assert run['checkpoint'] is False

    body = c.get(f'/api/runs/sw/sweep?x={SERVER_LR}&y={CLIENT_LR}').json()
    grid = body['grid']
    assert grid['fields'] == [SERVER_LR, CLIENT_LR] and body['metric'] == 'test_accuracy'
    assert np.shape(grid['mean']) == (3, 2)
    expected = np.zeros((3, 2))
    for ix, s in enumerate(AXES[SERVER_LR]):
      for iy, cl in enumerate(AXES[CLIENT_LR]):
        finals = [accuracy(i, 2) for i, v in enumerate(members)
                  if v[SERVER_LR] == s and v[CLIENT_LR] == cl and i != FROZEN]
        expected[ix, iy] = np.mean(finals)
    np.testing.assert_allclose(grid['mean'], expected, rtol=1e-12)
    assert tuple(grid['best']) == np.unravel_index(np.argmax(expected), expected.shape)
    assert grid['best_value'] == pytest.approx(expected.max())
    # The curves: one per cell, its band over the seeds, the best cell's marked.
    assert len(body['curves']) == 6 and sum(c['best'] for c in body['curves']) == 1
    frozen_cell = next(c for c in body['curves'] if c['values'] == {
        k: v for k, v in members[FROZEN].items() if k != 'seed'})
    assert frozen_cell['seeds'] == 1 and frozen_cell['low'] == frozen_cell['high']
    assert [m['frozen'] for m in body['members'] if m['frozen']] == [
        {'member': FROZEN, 'round': 2, 'reason': 'test loss is not finite'}]
    assert [m['report'] for m in body['members']] == [True] + [False] * 11

    default = c.get('/api/runs/sw/sweep').json()['grid']
    assert default['fields'] == [CLIENT_LR, SERVER_LR]
    refused = c.get('/api/runs/sw/sweep?x=seed')
    assert refused.status_code == 400 and "x 'seed' is not a swept field" in refused.json()['error']

    # The sweep's report links its members' reports; each is served with the token.
    page = c.get(f'/api/runs/sw/report.html?token={TOKEN}').text
    assert page == f'<a href="members/0000/report.html?token={TOKEN}">0</a>'
    member = c.get(f'/api/runs/sw/members/0000/report.html?token={TOKEN}').text
    assert member == f'<img src="report/a.png?token={TOKEN}">'
    assert c.get('/api/runs/sw/members/0001/report.html').status_code == 404
    model = c.get('/api/runs/sw/model')
    assert model.status_code == 409 and "run 'sw' is a sweep" in model.json()['error']
    assert c.get('/api/runs/sw/members/..%2F..%2Fsw/report.html').status_code in (400, 404)


def test_a_sweep_before_its_first_round_has_no_view_yet(client, tmp_path):
  os.makedirs(tmp_path / 'early')
  (tmp_path / 'early' / 'config.json').write_text(json.dumps(
      {'rounds': 2, 'sweep': {'axes': {'seed': [0, 1]}}}))
  run, = client.get('/api/runs').json()['runs']
  assert run['sweep']['members'] is None and run['round'] == 0
  assert client.get('/api/runs/early/sweep').json()['ready'] is False
