"""Crops, flips and per-image standardization of image batches `[batch,
height, width, channels]`, for use inside a model (jnp/lax only, so they run
in the jitted round).

Reddi et al. 2021 train CIFAR-100 on random 24x24 crops of the 32x32 images,
each also mirrored left-right with probability 1/2, and evaluate on the
central 24x24 crop; either crop is then standardized on its own
(`tf.image.per_image_standardization`; google-research/federated
`utils/datasets/cifar100_dataset.py`). Crops are square; callers check that
`size` fits the images.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class CropParams(NamedTuple):
  """Per-example crop windows: top row, left column (int32 `[batch]`) and
  whether the window is mirrored left-right (bool `[batch]`)."""

  rows: jax.Array
  cols: jax.Array
  flips: jax.Array


def draw_crop_params(key: jax.Array, shape: tuple[int, ...], size: int) -> CropParams:
  """Independent uniform offsets in `[0, height - size]` x `[0, width - size]`
  and fair-coin flips for each of the `shape[0]` images."""
  batch, height, width = shape[:3]
  row_key, col_key, flip_key = jax.random.split(key, 3)
  return CropParams(jax.random.randint(row_key, (batch,), 0, height - size + 1),
                    jax.random.randint(col_key, (batch,), 0, width - size + 1),
                    jax.random.bernoulli(flip_key, 0.5, (batch,)))


def crop_flip(images: jax.Array, params: CropParams, size: int) -> jax.Array:
  """The `size` x `size` window of each image at `params`, mirrored where
  `params.flips`."""

  def one(image, row, col, flip):
    window = lax.dynamic_slice(image, (row, col, 0), (size, size, image.shape[-1]))
    return jnp.where(flip, window[:, ::-1], window)

  return jax.vmap(one)(images, *params)


def random_crop_flip(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
  """A random `size` x `size` window of each image, randomly mirrored."""
  return crop_flip(images, draw_crop_params(key, images.shape, size), size)


def center_crop(images: jax.Array, size: int) -> jax.Array:
  """The central `size` x `size` window, its top-left corner rounded down as
  in `tf.image.resize_with_crop_or_pad`."""
  top, left = (images.shape[1] - size) // 2, (images.shape[2] - size) // 2
  return images[:, top:top + size, left:left + size]


def standardize_per_image(images: jax.Array, scale: float = 1.) -> jax.Array:
  """`tf.image.per_image_standardization` of `scale * images`: each image
  `(v - mean) / max(std, 1 / sqrt(n))` over its `n` = height * width *
  channels values `v` (population std; a constant image becomes zeros).

  Scaling an image by `s` scales its mean and std by `s` too, so the result
  only depends on `s` through the floor: it is `(x - mean) / max(std, 1 / (s
  * sqrt(n)))` of the unscaled `x`. For pixels stored as 0-255 values / 255,
  `scale=255` gives TF's result on the 0-255 values (to float rounding);
  `scale=1` would floor the std of images whose 0-255 std is below `255 /
  sqrt(n)` (about 6 for a 24x24x3 crop) higher than TF does.
  """
  n = math.prod(images.shape[1:])
  # Shifted by one value of each image (the mean and std are invariant to
  # that): a constant image gives exact zeros, close values exact differences.
  shifted = images - images[:, :1, :1, :1]
  mean = jnp.mean(shifted, axis=(1, 2, 3), keepdims=True)
  std = jnp.std(shifted, axis=(1, 2, 3), keepdims=True)
  return (shifted - mean) / jnp.maximum(std, 1. / (scale * math.sqrt(n)))
