"""Flower-demo parity: evaluation on a sampled fraction of clients' held-out
data (against a float64 loop), the centralized baseline, configs/flower_demo.py
and the end-of-run summary."""

import importlib
import itertools
import json
import math
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from fedjax_sim.evaluation import held_out as federated_eval
from fedjax_sim.config import centralized
from fedjax_sim.data.client_split import split_clients
from fedjax_sim.data.federated_data import from_client_arrays, pooled
from fedjax_sim.data.registry import load_dataset
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.models import get_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ragged(num_clients=12, seed=0):
  rng = np.random.default_rng(seed)
  clients = []
  for n in rng.integers(1, 15, num_clients):
    clients.append({'x': rng.normal(size=(n, 5)).astype(np.float32),
                    'y': rng.integers(0, 3, n).astype(np.int32)})
  return from_client_arrays(clients), clients


def test_sampled_clients_metrics_equal_a_float64_loop():
  data, _ = ragged()
  model = get_model('logistic', 3)
  params = model.init(jax.random.PRNGKey(0), np.zeros((1, 5), np.float32))
  evaluator = federated_eval.held_out_evaluator(0.25, 3, model, split_clients(data, 0.3, 3))
  held_out = split_clients(data, 0.3, 3).test
  w = np.asarray(params['Dense_0']['kernel'], np.float64)
  b = np.asarray(params['Dense_0']['bias'], np.float64)
  for round_index in (0, 7):
    ids = federated_eval.sampled_ids(3, round_index, 12, 3)
    assert len(set(ids)) == 3  # ceil(0.25 x 12) distinct clients
    loss = correct = count = 0.
    for i in ids:
      n = int(held_out.counts[i])
      x = np.asarray(held_out.examples['x'][i, :n], np.float64)
      y = np.asarray(held_out.examples['y'][i, :n])
      logits = x @ w + b
      logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                    keepdims=True)) - logits.max(1, keepdims=True)
      loss -= logp[np.arange(n), y].sum()
      correct += (logits.argmax(1) == y).sum()
      count += n
    got = evaluator(params, round_index)
    assert got['sampled_clients_test_loss'] == pytest.approx(loss / count, rel=1e-5)
    assert got['sampled_clients_test_accuracy'] == pytest.approx(correct / count)
  assert not np.array_equal(federated_eval.sampled_ids(3, 0, 12, 3),
                            federated_eval.sampled_ids(3, 1, 12, 3))
  np.testing.assert_array_equal(federated_eval.sampled_ids(3, 5, 12, 3),
                                federated_eval.sampled_ids(3, 5, 12, 3))


def test_client_evaluation_needs_held_out_data():
  data, _ = ragged()
  with pytest.raises(ConfigError, match=r'personalization.client_test_fraction=0.0 is not '
                     r'supported with client_eval_fraction > 0'):
    federated_eval.held_out_evaluator(0.1, 3, get_model('logistic', 3), None)
  assert federated_eval.held_out_evaluator(0., 3, get_model('logistic', 3),
                                           split_clients(data, 0.3, 3)) is None


def test_pooled_is_every_example_in_client_order():
  data, clients = ragged()
  one = pooled(data)
  assert one.num_clients == 1 and int(one.counts[0]) == sum(len(c['y']) for c in clients)
  for key in ('x', 'y'):
    np.testing.assert_array_equal(one.examples[key][0],
                                  np.concatenate([c[key] for c in clients]))


def flower(mode='federated'):
  return importlib.import_module('configs.flower_demo').get_config(mode)


@pytest.mark.parametrize('epochs, steps', [(2, 0), (1, 3)])
def test_centralized_budget_is_the_expected_examples_of_a_federated_round(epochs, steps):
  counts, batch = np.array([0, 5, 12, 7]), 4
  per_client = [(steps * batch if n else 0) if steps else epochs * n for n in counts]
  samples = list(itertools.combinations(range(4), 2))  # every sample of 2 clients
  expected = np.mean([sum(per_client[i] for i in s) for s in samples])
  assert centralized.federated_examples_per_round(counts, 2, batch, epochs, steps) == (
      pytest.approx(expected))


def test_centralized_baseline_trains_one_pooled_client():
  lines = []
  exp = build_experiment(flower('centralized'), log=lines.append)
  config = flower()
  total = int(np.sum(load_dataset(config.data, config.seed).train.counts))
  # One client with every training example, less the 10% it holds out, that
  # trains on the examples 10 federated clients would (their 90%, 1 epoch).
  assert exp.dataset.train.num_clients == 1
  assert int(exp.dataset.train.counts[0]) == total - math.ceil(0.1 * total)
  counts = np.asarray(build_experiment(config, log=lambda line: None).dataset.train.counts)
  steps = round(10 * counts.mean() / 32)
  assert lines[0].startswith(f'centralized: {total} examples pooled into one client; '
                             f'{steps} steps of batch 32 per round')
  assert exp.sample_fn(jax.random.PRNGKey(0)).shape == (1,)


def test_flower_demo_is_flowers_setup():
  config = flower()
  assert config.model.name == 'lenet5' and config.data.num_clients == 100
  assert config.data.partition == 'iid' and config.clients_per_round == 10
  assert config.client.batch_size == 32 and config.client.optimizer.momentum == 0.9
  assert config.personalization.client_test_fraction == 0.1
  assert config.client_eval_fraction == 0.05
  # TFDS MNIST is not prepared on this machine, so the demo runs on digits.
  assert config.data.name == 'digits'


def test_train_script_ends_with_the_history_and_files(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
       '--config=configs/flower_demo.py', '--config.rounds=4', '--config.eval_every=2',
       f'--workdir={tmp_path}/run'], capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith('History: '))
  assert re.fullmatch(r'History: 2 evaluations, round 4 reached in [\d.]+ s', lines[start])
  assert lines[start + 1].split() == ['round', 'test_accuracy', 'test_loss', 'train_loss',
                                      'sampled_clients_test_accuracy']
  rows = [line.split() for line in lines[start + 2:start + 4]]
  logged = [json.loads(line) for line in open(tmp_path / 'run' / 'metrics.jsonl')]
  for row, evals in zip(rows, logged):
    assert int(row[0]) == evals['round']
    np.testing.assert_allclose([float(v) for v in row[1:]],
                               [evals[k] for k in ('test_accuracy', 'test_loss', 'train_loss',
                                                   'sampled_clients_test_accuracy')],
                               atol=5e-5)
  assert lines[start + 4:] == [f'report:      {tmp_path}/run/report.html',
                               f'metrics:     {tmp_path}/run/metrics.jsonl',
                               f'checkpoints: {tmp_path}/run/checkpoints (newest: round 4)']
  assert all(len(line) <= 100 for line in lines[:start + 4])  # paths may be longer
