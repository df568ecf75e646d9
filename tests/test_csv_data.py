"""CSV data: clients by a column or a partition, one clear error per bad cell,
the bundled breast-cancer table, and binary metrics equal to scikit-learn's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics

from configs import hospitals
from fedjax_sim.core import init_state
from fedjax_sim.data import csv_data
from fedjax_sim.data.csv_data import BREAST_CANCER
from fedjax_sim.data.settings import DataSettings
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.evaluation.metrics import binary_metrics
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.run.evaluation import evaluate_state


def load_csv(cfg: dict, seed: int) -> csv_data.CsvData:
  """`csv_data.load_csv` of a data section given as a dict."""
  return csv_data.load_csv(DataSettings(name='csv', **cfg), seed)


def write_csv(path, rows, header='age,weight,hospital,outcome'):
  path.write_text(header + '\n' + ''.join(','.join(map(str, r)) + '\n' for r in rows))
  return str(path)


HOSPITALS = {'north': (20, 40), 'south': (40, 60), 'east': (60, 90)}  # age ranges


def hospital_rows(n=60, seed=0):
  """Rows whose ages tell their hospital apart (north < south < east)."""
  rng = np.random.default_rng(seed)
  names = list(HOSPITALS)
  return [(int(rng.integers(*HOSPITALS[names[i % 3]])), round(float(rng.normal(70, 10)), 1),
           names[i % 3], ['sick', 'well'][int(rng.integers(2))]) for i in range(n)]


def test_clients_come_from_the_client_column(tmp_path):
  rows = hospital_rows()
  path = write_csv(tmp_path / 'h.csv', rows)
  cfg = {'path': path, 'label': 'outcome', 'client_column': 'hospital', 'test_fraction': 0.25}
  data = load_csv(cfg, seed=3)
  assert data.client_names == ('east', 'north', 'south')
  assert data.columns.class_names == ('sick', 'well') and data.num_classes == 2
  assert data.columns.feature_names == ('age', 'weight')
  assert len(data.test['y']) == 15 and int(data.train.counts.sum()) == 45
  clients = {name: (data.train.examples['x'][k, :c], data.train.examples['y'][k, :c])
             for k, (name, c) in enumerate(zip(data.client_names, data.train.counts))}
  train_x = np.concatenate([x for x, _ in clients.values()])
  np.testing.assert_allclose(train_x.mean(0), 0, atol=1e-5)  # standardized on training rows
  np.testing.assert_allclose(train_x.std(0), 1, atol=1e-5)
  # Standardizing keeps the order of ages: each client holds one hospital's rows.
  assert clients['north'][0][:, 0].max() < clients['south'][0][:, 0].min()
  assert clients['south'][0][:, 0].max() < clients['east'][0][:, 0].min()
  # Labels as sorted class ids, matching the rows' outcomes per hospital.
  for name, (x, y) in clients.items():
    outcomes = sorted(r[3] == 'well' for r in rows if r[2] == name)
    assert len(y) <= len(outcomes) and set(y.tolist()) <= {0, 1}
    assert sum(y) <= sum(outcomes) and len(y) - sum(y) <= len(outcomes) - sum(outcomes)


def test_partition_rule_and_chosen_features(tmp_path):
  path = write_csv(tmp_path / 'h.csv', hospital_rows(90))
  data = load_csv({'path': path, 'label': 'outcome', 'features': ('weight',),
                   'partition': 'iid', 'num_clients': 4, 'test_fraction': 0.2}, seed=0)
  assert data.columns.feature_names == ('weight',) and data.train.examples['x'].shape[-1] == 1
  assert data.client_names == ('client_0', 'client_1', 'client_2', 'client_3')
  assert int(data.train.counts.sum()) == 72 and len(data.test['y']) == 18


@pytest.mark.parametrize('rows,cfg,error,message', [
    ([(30, '', 'north', 'sick')] * 10, {}, DataError,
     r"h\.csv: row 2, column 'weight': missing value"),
    ([(30, 'heavy', 'north', 'sick')] * 10, {}, DataError,
     r"h\.csv: row 2, column 'weight': 'heavy' is not a number"),
    ([(30, 70, 'north', 'sick')] * 10, {}, DataError,
     r"h\.csv: label column 'outcome' has one value \('sick'\); need at least 2 classes"),
    ([(30, 70, 'north', ['sick', 'well'][i % 2]) for i in range(10)] + [(40, 60, 'tiny', 'well')],
     {'test_fraction': 0.05}, DataError,  # 1 test row, not the tiny one
     r"h\.csv: client 'tiny' has 1 training rows; each needs at least data\.min_client_rows=2"),
    ([(30, 70, 'north', 'sick')] * 10, {'label': 'diagnosis'}, ConfigError,
     r"data\.label='diagnosis' is not a column of .*h\.csv \(columns: age, weight, hospital, "
     r"outcome\)"),
    ([(30, 70, 'north', 'sick')] * 10, {'features': ('age', 'outcome')}, ConfigError,
     r"data\.features holds the label column 'outcome'"),
])
def test_bad_files_are_one_clear_error(tmp_path, rows, cfg, error, message):
  path = write_csv(tmp_path / 'h.csv', rows)
  with pytest.raises(error, match=message):
    load_csv({'path': path, 'label': 'outcome', 'client_column': 'hospital', **cfg}, seed=0)


def test_ragged_rows_and_missing_files_name_the_problem(tmp_path):
  path = tmp_path / 'h.csv'
  path.write_text('a,b,outcome\n1,2,x\n3,y\n')
  with pytest.raises(DataError, match=r'h\.csv: row 3 has 2 fields, the header has 3'):
    load_csv({'path': str(path), 'label': 'outcome'}, seed=0)
  with pytest.raises(DataError, match=r"data\.path '.*nope\.csv' cannot be read as CSV"):
    load_csv({'path': str(tmp_path / 'nope.csv'), 'label': 'outcome'}, seed=0)


def test_bundled_breast_cancer_over_five_hospitals():
  data = load_csv({'path': BREAST_CANCER, 'label': 'diagnosis', 'partition': 'dirichlet',
                   'num_clients': 5, 'alpha': 1.0, 'test_fraction': 0.2}, seed=0)
  assert data.columns.class_names == ('benign', 'malignant')
  assert len(data.columns.feature_names) == 30
  assert int(data.train.counts.sum()) == 455 and len(data.test['y']) == 114
  assert data.train.num_clients == 5


def test_binary_metrics_equal_scikit_learn():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 500)
  scores = np.round(np.clip(0.3 * labels + rng.uniform(0, 0.7, 500), 0, 1), 2)  # with ties
  got = binary_metrics(scores, labels)
  predicted = scores > 0.5
  assert got['precision'] == pytest.approx(metrics.precision_score(labels, predicted))
  assert got['recall'] == pytest.approx(metrics.recall_score(labels, predicted))
  assert got['f1'] == pytest.approx(metrics.f1_score(labels, predicted))
  assert got['roc_auc'] == pytest.approx(metrics.roc_auc_score(labels, scores))
  assert 'roc_auc' not in binary_metrics(scores, np.ones(500, int))


def test_hospitals_config_reports_binary_metrics_of_its_test_set():
  exp = build_experiment(hospitals.get_config())
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  state = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  evals = evaluate_state(exp, state, 0)
  logits = np.asarray(exp.model.apply(params, jnp.asarray(exp.dataset.test['x']), None))
  scores = np.exp(logits[:, 1]) / np.exp(logits).sum(1)
  assert evals['test_roc_auc'] == pytest.approx(
      metrics.roc_auc_score(exp.dataset.test['y'], scores), abs=1e-6)
  assert evals['test_f1'] == pytest.approx(metrics.f1_score(exp.dataset.test['y'], scores > 0.5))


def test_more_clients_than_the_rows_can_fill_are_refused_before_partitioning():
  # 569 rows, 455 for training: 10**8 clients would take minutes to partition.
  cfg = {'path': BREAST_CANCER, 'label': 'diagnosis', 'partition': 'iid',
         'num_clients': 10**8, 'min_client_rows': 2}
  with pytest.raises(DataError, match=r'data.num_clients=100000000 clients of at least '
                     r'data.min_client_rows=2 rows need 200000000 training rows; there are 455'):
    load_csv(cfg, 0)
