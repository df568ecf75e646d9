"""The control room's predictions from a trained run's model: bad rows,
runs without a checkpoint and values beyond float32 are refused."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from control_room_helpers import CSV_TYPE, ROOT, settings
from fedjax_sim.control import create_app


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


def test_predictions_refuse_values_beyond_float32(trained_runs):
  with TestClient(create_app(settings(trained_runs))) as c:
    response = c.post('/api/runs/done/predict', json={'rows': [[1e308] * 30]})
    assert response.status_code == 400 and 'finite float32' in response.json()['error']


def test_predictions_name_the_class_and_the_features_behind_it(trained_runs):
  """The logistic model's attribution is exact: the predicted class's logit
  is its bias plus every feature's contribution."""
  from fedjax_sim import export
  from fedjax_sim.control.explain import contributions
  with TestClient(create_app(settings(trained_runs))) as c:
    rows = [[float(v) for v in np.linspace(-1, 2, 30)], [5.] * 30]
    body = c.post('/api/runs/done/predict', json={'rows': rows}).json()
  p = np.asarray(body['probabilities'])
  assert body['predicted'] == [body['class_names'][k] for k in np.argmax(p, 1)]
  assert body['attribution'].startswith('exact for the logistic model')
  model = export.from_run(str(trained_runs / 'done'))
  classes = np.argmax(p, 1)
  values = contributions(model, np.asarray(rows), classes)
  kernel = np.asarray(model.params['Dense_0']['kernel'])
  bias = np.asarray(model.params['Dense_0']['bias'])
  logits = model.columns.standardize(np.asarray(rows)) @ kernel + bias
  np.testing.assert_allclose(values.sum(1) + bias[classes], logits[[0, 1], classes], rtol=1e-4)
  for row, top in zip(values, body['top_features']):
    assert len(top) == 3
    largest = np.argsort(-np.abs(row))[:3]
    assert [t['feature'] for t in top] == [model.columns.feature_names[j] for j in largest]
    np.testing.assert_allclose([t['contribution'] for t in top], row[largest], rtol=1e-5)
