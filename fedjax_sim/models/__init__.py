"""Flax models as pure `Model(init, apply)` functions."""

from fedjax_sim.models.model import Model, from_flax, masked_loss
from fedjax_sim.models.registry import MODELS, get_model

__all__ = ['Model', 'from_flax', 'from_nnx', 'masked_loss', 'MODELS', 'get_model']


def __getattr__(name: str):
  """`from_nnx`, imported on first use (flax.nnx takes a second to load)."""
  if name == 'from_nnx':
    from fedjax_sim.models.nnx_model import from_nnx  # noqa: PLC0415
    return from_nnx
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
