"""The gradients of `tests/test_differentiable.py` in the `vmap` and
`chunked` layouts (`chunked:2` pads three clients to four)."""

import jax
import pytest

import gradient_check
from test_differentiable import assert_matches


# Each algorithm in one layout, each layout twice (test_differentiable.py:
# every algorithm in the default layout and on a two-device mesh).
@pytest.mark.parametrize('algorithm,strategy,chunk_size', [
    ('fedavg', 'vmap', 1), ('fedadam', 'vmap', 1), ('fedprox', 'chunked', 2),
    ('scaffold', 'chunked', 2)])
def test_gradients_match_finite_differences_in_every_layout(algorithm, strategy, chunk_size):
  with jax.enable_x64(True):
    assert_matches(gradient_check.check(algorithm, strategy, chunk_size, on_mesh=False))
