"""Random crops and flips (`fedjax_sim.models.augment`) against NumPy slicing,
the ResNet's `crop` option against the uncropped network on cropped inputs,
and the Reddi et al. CIFAR-100 config running one round with its 24x24 crops."""

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim import train as train_lib
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation import evaluate
from fedjax_sim.models import get_model
from fedjax_sim.models.augment import (CropParams, center_crop, crop_flip, draw_crop_params,
                                       random_crop_flip)
from sqlite_fixtures import TINY_MODELS, shrink, write_benchmarks

SIZE = 24


def distinct_images(batch, height=32, width=32, channels=3):
  """Images whose pixels are all different, so a window fixes its position."""
  return np.arange(batch * height * width * channels, dtype=np.float32).reshape(
      batch, height, width, channels)


def numpy_window(image, row, col, flip, size=SIZE):
  window = image[row:row + size, col:col + size]
  return window[:, ::-1] if flip else window


def windows_matching(image, crop):
  """Every (row, col, flip) whose NumPy window of `image` equals `crop`."""
  height, width = image.shape[:2]
  return [(r, c, f) for r in range(height - SIZE + 1) for c in range(width - SIZE + 1)
          for f in (False, True) if np.array_equal(numpy_window(image, r, c, f), crop)]


def test_crop_flip_equals_numpy_slicing():
  images = np.random.default_rng(0).normal(size=(5, 32, 30, 2)).astype(np.float32)
  rows, cols, flips = [0, 8, 3, 8, 5], [0, 6, 2, 0, 6], [False, True, True, False, True]
  params = CropParams(jnp.array(rows), jnp.array(cols), jnp.array(flips))
  got = np.asarray(jax.jit(crop_flip, static_argnums=2)(jnp.asarray(images), params, SIZE))
  want = np.stack([numpy_window(*a) for a in zip(images, rows, cols, flips)])
  np.testing.assert_array_equal(got, want)


def test_random_crops_are_the_drawn_windows_of_their_own_image():
  images = distinct_images(8)
  key = jax.random.PRNGKey(3)
  crops = np.asarray(jax.jit(random_crop_flip, static_argnums=2)(key, images, SIZE))
  assert crops.shape == (8, SIZE, SIZE, 3)
  drawn = draw_crop_params(key, images.shape, SIZE)
  for i in range(8):  # exactly one window of image i, and the one drawn for it
    assert windows_matching(images[i], crops[i]) == [
        (int(drawn.rows[i]), int(drawn.cols[i]), bool(drawn.flips[i]))]


def test_same_key_same_crops_other_key_other_crops():
  images = jnp.asarray(distinct_images(8))
  a, b = (random_crop_flip(jax.random.PRNGKey(k), images, SIZE) for k in (1, 1))
  c = random_crop_flip(jax.random.PRNGKey(2), images, SIZE)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_crop_offsets_cover_the_range_and_flips_are_fair_and_independent():
  rows, cols, flips = draw_crop_params(jax.random.PRNGKey(0), (4000, 32, 30, 3), SIZE)
  rows, cols, flips = np.asarray(rows), np.asarray(cols), np.asarray(flips)
  assert sorted(set(rows)) == list(range(9)) and sorted(set(cols)) == list(range(7))
  # Each row offset has probability 1/9: 444 of 4000 expected, sd about 20.
  assert np.all(np.abs(np.bincount(rows) - 4000 / 9) < 100)
  assert abs(flips.mean() - 0.5) < 0.05
  assert abs(np.corrcoef(rows, cols)[0, 1]) < 0.1
  assert abs(np.corrcoef(rows, flips)[0, 1]) < 0.1


@pytest.mark.parametrize('height,width,top,left', [(32, 32, 4, 4), (33, 31, 4, 3)])
def test_center_crop_equals_numpy_slicing(height, width, top, left):
  images = distinct_images(2, height, width)
  np.testing.assert_array_equal(center_crop(jnp.asarray(images), SIZE),
                                images[:, top:top + SIZE, left:left + SIZE])


TINY = dict(TINY_MODELS['resnet18_gn'], crop=0)


def test_resnet_crop_evaluates_on_center_crops_and_trains_on_random_windows():
  cropped, plain = get_model('resnet18_gn', 10, dict(TINY, crop=SIZE)), get_model(
      'resnet18_gn', 10, TINY)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), jnp.float32)
  params = jax.jit(cropped.init)(jax.random.PRNGKey(0), x)
  plain_params = jax.eval_shape(plain.init, jax.random.PRNGKey(0), x[:, 4:28, 4:28])
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, plain_params)
  apply_cropped, apply_plain = jax.jit(cropped.apply), jax.jit(plain.apply)
  np.testing.assert_allclose(apply_cropped(params, x, None),
                             apply_plain(params, x[:, 4:28, 4:28], None), rtol=1e-5, atol=1e-6)
  # Training: each example's logits are those of one window of its image.
  candidates = [(r, c, f) for r in range(9) for c in range(9) for f in (False, True)]
  windows = jnp.asarray([[numpy_window(np.asarray(image), *w) for w in candidates]
                         for image in x])
  window_logits = np.asarray(apply_plain(params, windows.reshape(-1, SIZE, SIZE, 3), None))
  window_logits = window_logits.reshape(2, len(candidates), 10)
  chosen = []
  for key in (1, 2):
    logits = np.asarray(apply_cropped(params, x, jax.random.PRNGKey(key)))
    for i in range(2):
      errors = np.abs(window_logits[i] - logits[i]).max(-1)
      assert errors.min() < 1e-5
      chosen.append(int(errors.argmin()))
  assert chosen[:2] != chosen[2:]  # another key, other windows
  np.testing.assert_array_equal(apply_cropped(params, x, jax.random.PRNGKey(1)),
                                apply_cropped(params, x, jax.random.PRNGKey(1)))


@pytest.mark.parametrize('crop', [33, -1])
def test_resnet_crop_outside_the_image_is_a_config_error(crop):
  model = get_model('resnet18_gn', 10, dict(TINY, crop=crop))
  with pytest.raises(ConfigError, match=r'model.options.crop must be 0 \(no crop\) or in '
                                        rf'\[1, 32\] .*got {crop}'):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


def test_reddi_cifar100_config_trains_on_crops_and_evaluates_center_crops(tmp_path,
                                                                         monkeypatch):
  config = importlib.import_module('configs.reddi_cifar100').get_config()
  assert config.model.options.crop == SIZE
  config = shrink(config, write_benchmarks(tmp_path))
  config.model.options = dict(config.model.options, crop=SIZE)
  config.rounds, config.eval_every = 1, 1
  evaluated = []

  def recording_evaluate(model, params, examples, *args):
    evaluated.append((model, params, examples))
    return evaluate(model, params, examples, *args)

  monkeypatch.setattr(train_lib, 'evaluate', recording_evaluate)
  (final,) = train_lib.train(config, log=lambda line: None)
  assert math.isfinite(final['loss']) and math.isfinite(final['train_loss'])
  (model, params, examples), = evaluated
  x = jnp.asarray(examples['x'])
  assert x.shape[1:] == (32, 32, 3)
  plain = get_model('resnet18_gn', 100, TINY)
  np.testing.assert_allclose(model.apply(params, x, None),
                             plain.apply(params, x[:, 4:28, 4:28], None), rtol=1e-5, atol=1e-6)
