"""One FedAvg round of each Reddi et al. config, model shrunk, through
`train.train` on the tiny SQLite files of `sqlite_fixtures`: the evaluated
accuracy counts exactly the hand-counted scored targets (padding, BOS/EOS and
OOV tokens, OOV tags excluded)."""

import importlib
import math

import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.config.train import train
from fedjax_sim.run import evaluation as evaluation_lib
from fedjax_sim.data.benchmark_features import SHAKESPEARE_CHARS
from fedjax_sim.evaluation import metrics
from fedjax_sim.evaluation.metrics import example_sums
from sqlite_fixtures import (CIFAR_COUNTS, EMNIST_COUNTS, SHAKESPEARE, SO_TAGS, SO_WORDS,
                             STACKOVERFLOW, shrink, write_benchmarks)


def shakespeare_counts():
  """(scored, real) targets: every in-vocabulary character is a scored target;
  a client's joined BOS+snippet+EOS stream yields len - 1 targets."""
  scored = sum(c in SHAKESPEARE_CHARS for snippets in SHAKESPEARE['test'].values()
               for s in snippets for c in s)
  real = sum(sum(len(s) + 2 for s in snippets) - 1
             for snippets in SHAKESPEARE['test'].values())
  return scored, real


def stackoverflow_nwp_counts(length=20):
  """(scored, real): targets are a post's words then EOS, cut at `length`."""
  scored = real = 0
  for posts, _, _ in STACKOVERFLOW['test'].values():
    for post in posts:
      targets = (post.split() + [None])[:length]
      real += len(targets)
      scored += sum(w in SO_WORDS for w in targets)
  return scored, real


def stackoverflow_tag_count():
  return sum(t in SO_TAGS for _, _, tags in STACKOVERFLOW['test'].values()
             for post in tags for t in post.split('|'))


# config, model override, (accuracy count, loss count) on the test split.
CASES = [
    ('reddi_emnist_cr', None, (sum(EMNIST_COUNTS['test']),) * 2),
    ('reddi_cifar100', None, (sum(CIFAR_COUNTS['test']),) * 2),
    ('reddi_shakespeare', None, shakespeare_counts()),
    ('reddi_stackoverflow_nwp', None, stackoverflow_nwp_counts()),
    ('reddi_stackoverflow_nwp', 'transformer', stackoverflow_nwp_counts()),
    ('reddi_stackoverflow_lr', None,
     (stackoverflow_tag_count(), sum(len(p) for p, _, _ in STACKOVERFLOW['test'].values()))),
]


@pytest.fixture(scope='module')
def benchmarks(tmp_path_factory):
  return write_benchmarks(tmp_path_factory.mktemp('benchmarks'))


@pytest.mark.parametrize('name,model,counts', CASES)
def test_one_round_scores_only_real_targets(name, model, counts, benchmarks,
                                            monkeypatch):
  assert counts[0] > 0
  config = importlib.import_module(f'configs.{name}').get_config()
  if model:
    config.model.name = model
  config = shrink(config, benchmarks)
  config.rounds, config.eval_every = 1, 1
  sums = []

  def recording_test_sums(mdl, params, examples, *args):
    mask = jnp.ones(examples['y'].shape[0], bool)
    sums.append(np.asarray(example_sums(mdl, params, jnp.asarray(examples['x']),
                                        jnp.asarray(examples['y']), mask)))
    return metrics.test_sums(mdl, params, examples, *args)

  monkeypatch.setattr(evaluation_lib, 'test_sums', recording_test_sums)
  history = train(config, log=lambda line: None)
  (final,), (stats,) = history, sums
  assert math.isfinite(final['test_loss']) and math.isfinite(final['train_loss'])
  assert 0 <= final['test_accuracy'] <= 1 and 0 <= final['client_train_accuracy'] <= 1
  assert (stats[2], stats[-1]) == counts
  np.testing.assert_allclose(final['test_accuracy'], stats[1] / stats[2], rtol=1e-6)
