"""Flax models as pure `Model(init, apply)` functions."""

from fedjax_sim.models.model import Model, from_flax, masked_loss
from fedjax_sim.models.nnx_model import from_nnx
from fedjax_sim.models.registry import MODELS, get_model

__all__ = ['Model', 'from_flax', 'from_nnx', 'masked_loss', 'MODELS', 'get_model']
