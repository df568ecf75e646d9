"""Random crops and flips (`fedjax_sim.models.augment`) against NumPy slicing,
per-image standardization against a NumPy copy of TF's formula, the ResNet's
`crop` and `standardize` options against the plain network on NumPy-cropped
and standardized inputs, and the Reddi et al. CIFAR-100 config's options
(tests/test_real_tasks.py and test_all_configs.py train it with them)."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.errors import ConfigError
from fedjax_sim.models import get_model
from fedjax_sim.models.augment import (CropParams, center_crop, crop_flip, draw_crop_params,
                                       random_crop_flip, standardize_per_image)
from sqlite_fixtures import TINY_MODELS, shrink

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


def tf_per_image_standardization(images):
  """NumPy float64 copy of `tf.image.per_image_standardization` on each image
  of `[batch, height, width, channels]`: `(v - mean) / max(std, 1 / sqrt(n))`
  over its n values, population std."""
  images = np.asarray(images, np.float64)
  n = np.prod(images.shape[1:])
  mean = images.mean(axis=(1, 2, 3), keepdims=True)
  std = images.std(axis=(1, 2, 3), keepdims=True)
  return (images - mean) / np.maximum(std, 1 / np.sqrt(n))


def test_per_image_standardization_of_scaled_pixels_equals_tf_on_0_255():
  rng = np.random.default_rng(0)
  raw = rng.integers(0, 256, (5, SIZE, SIZE, 3))
  raw[1] = 80  # constant: TF's floor avoids 0 / 0
  raw[2] = 80
  raw[2, 3, 5, 1] = 81  # std sqrt(1727) / 1728 below the floor 1 / sqrt(1728)
  raw[3] = rng.integers(80, 83, (SIZE, SIZE, 3))  # std about 0.8 of 255
  n = SIZE * SIZE * 3
  assert raw[2].std() < 1 / np.sqrt(n) < raw[3].std() < 255 / np.sqrt(n) < raw[4].std()
  want = tf_per_image_standardization(raw)
  pixels = jnp.asarray(raw / 255., jnp.float32)
  got = np.asarray(jax.jit(standardize_per_image, static_argnums=1)(pixels, 255.))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(got[1], 0.)
  assert abs(got[2, 3, 5, 1] - (1 - 1 / n) * np.sqrt(n)) < 1e-4  # floored std
  # Scaling by 1/255 changes nothing but the floor: images of 0-255 std above
  # 255 / sqrt(n) agree without rescaling it; lower-contrast ones do not.
  unscaled = np.asarray(standardize_per_image(pixels))
  np.testing.assert_allclose(unscaled[[0, 1, 4]], want[[0, 1, 4]], rtol=1e-5, atol=1e-5)
  for i in (2, 3):
    assert np.abs(unscaled[i] - want[i]).max() > 0.5


TINY = dict(TINY_MODELS['resnet18_gn'], crop=0)


@pytest.fixture(scope='module')
def tiny_params():
  """Random parameters of the tiny ResNet on 24x24 images (any values do
  to compare two networks that share them)."""
  shapes = jax.eval_shape(get_model('resnet18_gn', 10, TINY).init, jax.random.PRNGKey(0),
                          jnp.zeros((1, SIZE, SIZE, 3)))
  rng = np.random.default_rng(0)
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(0, .5, s.shape), jnp.float32), shapes)


def logits_per_window(apply_plain, params, images, prepare=lambda w: w):
  """`[batch, windows, classes]` logits of the plain network on `prepare` of
  every NumPy window of each image, and the windows' (row, col, flip)."""
  candidates = [(r, c, f) for r in range(9) for c in range(9) for f in (False, True)]
  windows = np.stack([[numpy_window(image, *w) for w in candidates] for image in images])
  flat = prepare(windows.reshape(-1, SIZE, SIZE, images.shape[-1]))
  logits = np.asarray(apply_plain(params, jnp.asarray(flat, jnp.float32), None))
  return logits.reshape(len(images), len(candidates), -1), candidates


def test_resnet_crop_evaluates_on_center_crops_and_trains_on_random_windows(tiny_params):
  cropped, plain = get_model('resnet18_gn', 10, dict(TINY, crop=SIZE)), get_model(
      'resnet18_gn', 10, TINY)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), jnp.float32)
  assert jax.tree.map(jnp.shape, jax.eval_shape(cropped.init, jax.random.PRNGKey(0), x)) == (
      jax.tree.map(jnp.shape, tiny_params))
  params = tiny_params
  apply_cropped, apply_plain = jax.jit(cropped.apply), jax.jit(plain.apply)
  np.testing.assert_allclose(apply_cropped(params, x, None),
                             apply_plain(params, x[:, 4:28, 4:28], None), rtol=1e-5, atol=1e-6)
  # Training: each example's logits are those of one window of its image.
  window_logits, _ = logits_per_window(apply_plain, params, np.asarray(x))
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


def test_resnet_standardizes_each_crop_per_image_as_tf_does_the_0_255_pixels(tiny_params):
  rng = np.random.default_rng(1)
  raw = rng.integers(0, 256, (2, 32, 32, 3))
  raw[:, :, :8] //= 4  # darker left columns: crops' statistics differ from the image's
  raw[1, 4:28, 4:28] = 7
  raw[1, 10, 12, 0] = 8  # a centre of std below TF's floor
  model = get_model('resnet18_gn', 10, dict(TINY, crop=SIZE, standardize='per_image'))
  plain = jax.jit(get_model('resnet18_gn', 10, TINY).apply)
  apply = jax.jit(model.apply)
  pixels = jnp.asarray(raw / 255., jnp.float32)
  want = plain(tiny_params, tf_per_image_standardization(raw[:, 4:28, 4:28]), None)
  np.testing.assert_allclose(apply(tiny_params, pixels, None), want, rtol=1e-4, atol=1e-4)
  whole = tf_per_image_standardization(raw)[:, 4:28, 4:28]  # standardized before the crop
  assert np.abs(plain(tiny_params, whole, None) - want).max() > 1e-2
  # Training: the logits of one standardized random window of each image.
  window_logits, _ = logits_per_window(plain, tiny_params, raw, tf_per_image_standardization)
  logits = np.asarray(apply(tiny_params, pixels, jax.random.PRNGKey(3)))
  for i in range(2):
    assert np.abs(window_logits[i] - logits[i]).max(-1).min() < 1e-4


@pytest.mark.parametrize('crop', [33, -1])
def test_resnet_crop_outside_the_image_is_a_config_error(crop):
  model = get_model('resnet18_gn', 10, dict(TINY, crop=crop))
  with pytest.raises(ConfigError, match=r'model.options.crop must be 0 \(no crop\) or in '
                                        rf'\[1, 32\] .*got {crop}'):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


def test_resnet_unknown_standardization_is_a_config_error():
  model = get_model('resnet18_gn', 10, dict(TINY, standardize='per_channel'))
  with pytest.raises(ConfigError, match=r"model.options.standardize must be one of "
                                        r"\['none', 'per_image'\], got 'per_channel'"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


def test_reddi_cifar100_config_crops_and_standardizes_and_shrink_keeps_both(tmp_path):
  config = importlib.import_module('configs.reddi_cifar100').get_config()
  assert (config.model.options.crop, config.model.options.standardize) == (SIZE, 'per_image')
  options = shrink(config, tmp_path).model.options
  assert options.to_dict() == dict(TINY_MODELS['resnet18_gn'], crop=SIZE, standardize='per_image')
