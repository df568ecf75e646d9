"""Compressed uploads cover the whole update (`FederatedAlgorithm.zero_update`),
not just a model delta: the residual and the payload (every algorithm x
compressor pair trains in tests/test_pairwise.py)."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fedjax_sim
from configs import default
from fedjax_sim.algorithms.scaffold import Update, scaffold
from fedjax_sim.compression import (stochastic_quantizer, top_k, with_compression)
from fedjax_sim.compression.compressor import SCALAR_BYTES

PARAMS = {'w': jnp.zeros((5, 4)), 'b': jnp.zeros(4)}


def algorithm_config(name: str):
  """configs/<name>.py on Synthetic(1,1) if there is one, else the default's."""
  try:
    config = importlib.import_module(f'configs.{name}').get_config('synthetic')
  except ModuleNotFoundError:
    config = default.get_config('synthetic')
  config.algorithm = name
  if name == 'ditto':
    assert config.personalization.client_test_fraction > 0
  return config


def test_scaffold_uploads_both_deltas_and_its_flag():
  """Synthetic logistic regression (kernel 60x10, bias 10), top-k 10%: each of
  the model and control deltas costs (60 + 1) * 8 = 488 bytes, the `trained`
  flag 4; 10 clients per round."""
  config = algorithm_config('scaffold')
  config.rounds, config.eval_every = 1, 1
  config.compression.update(name='topk', fraction=0.1)
  history = fedjax_sim.train(config, log=lambda line: None)
  assert history[-1]['upload_bytes'] == 10 * (2 * 488 + SCALAR_BYTES)


def test_residual_is_sized_by_zero_update(tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = with_compression(scaffold(tiny_mlp, 0.1, None, 6, 3), top_k(0.25))
  controls, residual = algorithm.client_init(params)
  assert isinstance(residual, Update)
  shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
  assert shapes(residual.delta) == shapes(params) == shapes(residual.control_delta)
  assert shapes(controls) == shapes(params)
  assert residual.trained.shape == ()


@pytest.mark.parametrize('compressor', [top_k(0.25), stochastic_quantizer(2)])
def test_one_element_leaves_pass_as_they_are(compressor):
  update = {'w': jax.random.normal(jax.random.PRNGKey(0), (5, 4)),
            'steps': jnp.float32(3.7), 'one': jnp.array([-2.5])}
  sent = compressor.compress(update, jax.random.PRNGKey(1))
  assert float(sent['steps']) == np.float32(3.7)
  np.testing.assert_array_equal(sent['one'], [-2.5])
  assert not np.array_equal(sent['w'], update['w'])
  dense = compressor.payload_bytes({'w': update['w']})
  assert compressor.payload_bytes(update) == dense + 2 * SCALAR_BYTES
