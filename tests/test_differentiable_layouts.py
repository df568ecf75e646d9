"""The gradients of `tests/test_differentiable.py` in the `vmap` and
`chunked` layouts (`chunked:2` pads three clients to four)."""

import jax
import pytest

import gradient_check
from test_differentiable import assert_matches


@pytest.mark.parametrize('algorithm', ['fedavg', 'fedprox', 'fedadam', 'scaffold'])
@pytest.mark.parametrize('strategy,chunk_size', [('vmap', 1), ('chunked', 2)])
def test_gradients_match_finite_differences_in_every_layout(algorithm, strategy, chunk_size):
  with jax.enable_x64(True):
    assert_matches(gradient_check.check(algorithm, strategy, chunk_size, on_mesh=False))
