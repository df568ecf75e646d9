"""Aggregator chains (`aggregators.chain`, `aggregator.name='a+b'`): clip then
an order statistic, then noise, through the real round engine, against NumPy
references; and the rules on the order of stages."""

import ml_collections
import numpy as np
import pytest
from scipy import stats

from configs import default
from fedjax_sim.aggregators.chain import chain
from fedjax_sim.aggregators.clip import clip
from fedjax_sim.aggregators.dp_noise import dp_noise
from fedjax_sim.aggregators.median import median
from fedjax_sim.config.algorithms import build_aggregator
from fedjax_sim.aggregators.trimmed_mean import trimmed_mean
from fedjax_sim.core import weighted_mean
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.train import train
from test_robust import IDS, aggregate_in_round, aggregate_in_rounds, flatten, present_rows

CLIP = 1.5


def clipped(rows):
  norms = np.linalg.norm(rows, axis=1, keepdims=True)
  return rows * np.minimum(1., CLIP / norms)


@pytest.mark.parametrize('strategy,chunk_size', [('sequential', 1), ('chunked', 2), ('vmap', 1)])
def test_clip_then_median_matches_numpy(ragged_data, strategy, chunk_size):
  rows = present_rows(ragged_data, IDS)
  assert (np.linalg.norm(rows, axis=1) > CLIP).any()  # clipping changes something
  got, _ = aggregate_in_round(chain(clip(CLIP), median()), ragged_data, IDS, strategy,
                              chunk_size)
  np.testing.assert_allclose(flatten(got), np.median(clipped(rows), axis=0), rtol=1e-5,
                             atol=1e-6)
  unclipped, _ = aggregate_in_round(median(), ragged_data, IDS, strategy, chunk_size)
  assert np.abs(flatten(unclipped) - flatten(got)).max() > 1e-3


def test_clip_then_weighted_mean_matches_numpy(ragged_data):
  rows = present_rows(ragged_data, IDS)
  weights = np.asarray([ragged_data.counts[i] for i in IDS if ragged_data.counts[i] > 0],
                       np.float64)
  got, _ = aggregate_in_round(chain(clip(CLIP), weighted_mean()), ragged_data, IDS,
                              'sequential', 1)
  np.testing.assert_allclose(flatten(got), weights @ clipped(rows) / weights.sum(), rtol=1e-5)


def test_clip_trimmed_mean_and_noise_add_noise_of_the_given_std(ragged_data):
  rows = present_rows(ragged_data, IDS)
  robust = stats.trim_mean(clipped(rows), 0.25, axis=0)
  quiet, _ = aggregate_in_round(chain(clip(CLIP), trimmed_mean(0.25), dp_noise(0., CLIP, 5)),
                                ragged_data, IDS, 'sequential', 1)
  np.testing.assert_allclose(flatten(quiet), robust, rtol=1e-5, atol=1e-6)
  # With noise: every coordinate is the trimmed mean plus N(0, (z C / m)^2);
  # 40 rounds of 7 coordinates, each round its own key.
  noisy = chain(clip(CLIP), trimmed_mean(0.25), dp_noise(2., CLIP, 5))
  runs = aggregate_in_rounds(noisy, ragged_data, IDS, 'sequential', 1, seeds=range(40))
  samples = [flatten(got) - robust for got, _ in runs]
  metrics = runs[-1][1]
  std = 2. * CLIP / 5
  np.testing.assert_allclose(float(metrics['noise_std']), std, rtol=1e-6)
  z = np.concatenate(samples) / std
  assert abs(z.mean()) < 0.15 and abs(z.std() - 1) < 0.1
  assert stats.kstest(z, 'norm').pvalue > 1e-3


def test_a_chain_of_one_is_the_stage_itself(ragged_data):
  alone, _ = aggregate_in_round(median(), ragged_data, IDS, 'sequential', 1)
  chained, _ = aggregate_in_round(chain(median()), ragged_data, IDS, 'sequential', 1)
  np.testing.assert_array_equal(flatten(alone), flatten(chained))


@pytest.mark.parametrize('stages,names,message', [
    ((dp_noise(1., 1., 5), median()), ('dp_noise', 'median'),
     "median needs every client's update, so it must come before dp_noise"),
    ((median(), trimmed_mean(0.1)), ('median', 'trimmed_mean'),
     'only one stage may reduce the stacked updates, got median, trimmed_mean'),
])
def test_stages_in_an_impossible_order_are_refused(stages, names, message):
  with pytest.raises(ConfigError, match=message):
    chain(*stages, names=names)


def config_with(name, **options):
  config = default.get_config()
  config.rounds, config.eval_every = 3, 3
  config.aggregator = ml_collections.ConfigDict({'name': name, **options})
  return config


def test_configs_name_chains_with_plus():
  aggregator = build_aggregator(config_with('clip+median', clip=CLIP))
  assert aggregator.stacked
  rows = train(config_with('clip+trimmed_mean+dp_noise', clip=1., trim_fraction=0.1,
                           noise_multiplier=0.5), log=lambda line: None, progress='none')
  assert rows[-1]['noise_std'] == pytest.approx(0.5 / 10) and rows[-1]['test_accuracy'] > 0.3
  with pytest.raises(ConfigError, match=r"aggregator.name must be one of \[.*'clip'.*\], or "
                     r"several joined by '\+' \(a chain, e.g. 'clip\+median'\), got 'clip\+medain'"):
    train(config_with('clip+medain'), log=lambda line: None, progress='none')
  with pytest.raises(ConfigError, match='aggregator.clip must be a number > 0, got -1'):
    train(config_with('clip+median', clip=-1), log=lambda line: None, progress='none')




def test_dp_does_not_chain():
  with pytest.raises(ConfigError, match="'dp' is DP-FedAvg whole"):
    build_aggregator(config_with('median+dp'))
