"""ResNet-18 with GroupNorm for 32x32 images (CIFAR).

Batch normalization keeps running statistics and mixes examples, which does
not suit non-IID clients; Hsieh et al. 2020 ("The Non-IID Data Quagmire") and
Reddi et al. 2021 replace it by group normalization (2 groups per layer).
This is the CIFAR variant of He et al. 2016: a 3x3 stem convolution without
max-pooling, four stages of two basic blocks (widths 64-128-256-512, stride 2
from the second stage on), global average pooling and a dense output layer.
With `crop` > 0 the network first takes a `crop` x `crop` window of each image:
a random, randomly mirrored one in training (drawn from the 'dropout' rng) and
the central one in evaluation, as Reddi et al. 2021 do with 24x24 crops. With
`standardize='per_image'` it then standardizes each (cropped) image as
`tf.image.per_image_standardization` does the 0-255 pixels, for inputs holding
pixels / 255 (the CIFAR-100 loader's; `augment.standardize_per_image`), as
Reddi et al. 2021 do after the crop.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from fedjax_sim.errors import ConfigError
from fedjax_sim.models.augment import center_crop, random_crop_flip, standardize_per_image
from fedjax_sim.models.conv_layers import conv as conv_layer

STANDARDIZE = ('none', 'per_image')
PIXEL_MAX = 255.  # inputs are 0-255 pixel values / PIXEL_MAX


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with GroupNorm and a (projected) shortcut."""

  features: int
  strides: int
  groups: int
  conv: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # Named as nn.Conv's auto-names (Conv_0, Conv_1, Conv_2) whatever the implementation.
    conv = lambda f, k, s, i: conv_layer(f, k, self.conv, f'Conv_{i}', s, 'SAME', False)  # noqa: E731
    y = nn.relu(nn.GroupNorm(self.groups)(conv(self.features, 3, self.strides, 0)(x)))
    y = nn.GroupNorm(self.groups)(conv(self.features, 3, 1, 1)(y))
    if x.shape[-1] != self.features or self.strides != 1:
      x = nn.GroupNorm(self.groups)(conv(self.features, 1, self.strides, 2)(x))
    return nn.relu(x + y)


class ResNet18GN(nn.Module):
  """`width` scales all stages (64: the standard network); `groups` is the
  number of GroupNorm groups of every layer; `crop` the side of the square
  crop taken of the `[batch, height, width, channels]` inputs (0: none);
  `standardize` 'per_image' or 'none' (see the module docstring); `conv`
  the convolutions' implementation ('auto', 'taps', 'winograd' or 'xla', see
  `conv_layers.conv`: on CPU, where `lax.conv` inside the local-training
  scan is much slower, 'auto' runs the 3x3 stride-1 convolutions with 16 or
  more channels and 16x16 or more outputs by Winograd, the others as im2col
  matmuls; the same parameters)."""

  num_classes: int
  width: int = 64
  groups: int = 2
  blocks: Sequence[int] = (2, 2, 2, 2)
  crop: int = 0
  standardize: str = 'none'
  conv: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.crop:
      if not 0 < self.crop <= min(x.shape[1:3]):
        raise ConfigError(f'model.options.crop must be 0 (no crop) or in [1, '
                          f'{min(x.shape[1:3])}] for images of shape {x.shape[1:]}, '
                          f'got {self.crop}')
      x = (random_crop_flip(self.make_rng('dropout'), x, self.crop) if train
           else center_crop(x, self.crop))
    if self.standardize not in STANDARDIZE:
      raise ConfigError(f'model.options.standardize must be one of {list(STANDARDIZE)}, '
                        f'got {self.standardize!r}')
    if self.standardize == 'per_image':
      x = standardize_per_image(x, PIXEL_MAX)
    x = conv_layer(self.width, 3, self.conv, 'Conv_0', 1, 'SAME', False)(x)
    x = nn.relu(nn.GroupNorm(self.groups)(x))
    for stage, num_blocks in enumerate(self.blocks):
      for block in range(num_blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(self.width * 2 ** stage, strides, self.groups, self.conv)(x)
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))
