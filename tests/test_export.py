"""Exported models load back with one call and predict like the checkpoint;
scripts/predict.py prints the same probabilities."""

import csv
import glob
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import datasets

import fedjax_sim as fs
from configs import default, hospitals
from fedjax_sim.rundir import checkpoint
from fedjax_sim.core import init_state
from fedjax_sim.errors import DataError
from fedjax_sim.export import export_model, from_run
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkpoint_probabilities(config, workdir, x):
  """Softmax of the newest checkpoint's server model on model inputs `x`."""
  exp = build_experiment(config)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  like = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  _, state = checkpoint.restore_latest(checkpoint.manager(f'{workdir}/checkpoints', 3), like)
  logits = np.asarray(exp.model.apply(state.server.params, jnp.asarray(x), None), np.float64)
  return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


@pytest.fixture(scope='module')
def hospital_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('hospitals') / 'run')
  config = hospitals.get_config()
  config.rounds = 3
  train(config, log=lambda line: None, workdir=workdir)
  return config, workdir


def test_exported_table_model_predicts_raw_rows_like_the_checkpoint(hospital_run, tmp_path):
  config, workdir = hospital_run
  path = str(tmp_path / 'model.msgpack')
  export_model(workdir, path)
  model = fs.load_model(path)
  assert model.rounds_done == 3 and model.class_names == ('benign', 'malignant')
  assert len(model.columns.feature_names) == 30
  exp = build_experiment(config)
  test_x = exp.dataset.test['x']
  # Un-scaling the (scaled) test rows with the file's mean and std gives rows
  # of scikit-learn's table: the stored scaling is the one training used.
  raw = test_x * model.columns.std + model.columns.mean
  table = datasets.load_breast_cancer().data
  # Distance to the nearest table row, in each feature's training std.
  nearest = np.abs((raw[:, None, :] - table[None]) / model.columns.std).max(-1).min(-1)
  assert nearest.max() < 1e-4
  expected = checkpoint_probabilities(config, workdir, test_x)
  np.testing.assert_allclose(model.predict(raw), expected, atol=1e-5)


def test_exported_image_model_predicts_flattened_examples(tmp_path):
  config = default.get_config()
  config.rounds, config.eval_every = 2, 2
  workdir = str(tmp_path / 'digits')
  train(config, log=lambda line: None, workdir=workdir)
  model = export_model(workdir, str(tmp_path / 'digits.msgpack'))
  loaded = fs.load_model(str(tmp_path / 'digits.msgpack'))
  assert loaded.input_shape == (8, 8, 1) and loaded.columns is None
  assert loaded.class_names == tuple(str(c) for c in range(10))
  exp = build_experiment(config)
  x = exp.dataset.test['x'][:7]
  expected = checkpoint_probabilities(config, workdir, x)
  np.testing.assert_allclose(loaded.predict(x.reshape(7, -1)), expected, atol=1e-5)
  np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)


def test_predict_script_prints_the_probabilities_and_refuses_bad_input(hospital_run, tmp_path):
  _, workdir = hospital_run
  bunch = datasets.load_breast_cancer()
  rows = tmp_path / 'rows.csv'
  with open(rows, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['diagnosis'] + list(bunch.feature_names)[::-1])  # any column order
    for x, t in zip(bunch.data[:6], bunch.target[:6]):
      writer.writerow([bunch.target_names[t]] + list(x)[::-1])
  script = os.path.join(ROOT, 'scripts', 'predict.py')
  result = subprocess.run([sys.executable, script, f'--workdir={workdir}', f'--input={rows}'],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert lines[0] == 'p_benign,p_malignant,predicted'
  got = np.array([[float(v) for v in line.split(',')[:2]] for line in lines[1:]])
  exported = export_model(workdir, str(tmp_path / 'm.msgpack'))
  np.testing.assert_allclose(got, exported.predict(bunch.data[:6]), atol=2e-6)
  assert [line.split(',')[2] for line in lines[1:]] == [
      exported.class_names[int(np.argmax(p))] for p in got]
  bad = tmp_path / 'bad.csv'
  bad.write_text('mean radius,x\n1,2\n')
  for flags, message in [
      ([f'--model={tmp_path}/m.msgpack', f'--input={bad}'],
       f"error: {bad} lacks 29 of the model's feature columns: mean texture, "),
      ([f'--workdir={workdir}', f'--model={tmp_path}/m.msgpack', f'--input={bad}'],
       'error: give exactly one of --workdir and --model'),
      ([f'--model={rows}', f'--input={bad}'], f"error: model file '{rows}' cannot be read"),
  ]:
    result = subprocess.run([sys.executable, script, *flags], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_run_without_checkpoints_is_one_clear_error(tmp_path):
  with pytest.raises(DataError, match='holds no run'):
    export_model(str(tmp_path), str(tmp_path / 'm.msgpack'))


def test_predict_only_reads_the_run_and_names_the_checkpoint_it_used(tmp_path):
  """Issue 28: predict moved a corrupt checkpoint aside and did not say which
  round's checkpoint it used."""
  config = default.get_config()
  config.rounds, config.eval_every, config.checkpoint.every = 2, 2, 1
  workdir = str(tmp_path / 'run')
  train(config, log=lambda line: None, workdir=workdir)
  newest = max(glob.glob(f'{workdir}/checkpoints/2/default/**/d/*', recursive=True),
               key=os.path.getsize)
  with open(newest, 'r+b') as f:
    byte = f.read(1)
    f.seek(0)
    f.write(bytes([byte[0] ^ 1]))
  before = sorted(glob.glob(f'{workdir}/**', recursive=True))
  rows = tmp_path / 'rows.csv'
  rows.write_text(','.join(f'c{i}' for i in range(64)) + '\n' + ','.join(['0'] * 64) + '\n')
  got = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'predict.py'),
                        f'--workdir={workdir}', f'--input={rows}'],
                       capture_output=True, text=True, timeout=300)
  assert got.returncode == 0, got.stderr
  warning, used = got.stderr.strip().splitlines()
  assert warning.startswith(f'warning: checkpoint {workdir}/checkpoints/2 is corrupt: checksum '
                            'mismatch in default/')
  assert warning.endswith('; falling back to the previous checkpoint')
  assert used == f'predicting with the checkpoint after round 1: {workdir}/checkpoints/1'
  assert sorted(glob.glob(f'{workdir}/**', recursive=True)) == before  # nothing moved


@pytest.mark.parametrize('written, missing', [
    ('{"seed": 0, "rounds": 2}', "'algorithm'"),
    ('["not", "a", "config"]', 'holds a list'),
])
def test_a_hand_written_config_is_one_error_naming_the_file(tmp_path, written, missing):
  """Issue 28: a run's config.json lacking sections was an AttributeError (a
  500 in the control room's model route)."""
  (tmp_path / 'config.json').write_text(written)
  with pytest.raises(DataError) as error:
    from_run(str(tmp_path))
  assert f'{tmp_path}/config.json' in str(error.value) and missing in str(error.value)
  assert len(str(error.value).splitlines()) == 1
