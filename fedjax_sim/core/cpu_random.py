"""`jax.random` on XLA:CPU without threefry's rolled loop.

On CPU, JAX lowers `threefry2x32` (behind every `jax.random` draw, split and
fold_in) as a 5-step `fori_loop`, to keep programs small; on other
backends as its 20 rounds unrolled. Inside the local-training loop the
rolled form is a `while` per draw whose steps are separate passes over the
bits: the EMNIST CNN's two dropout masks made its step about 10% slower.
The unrolled form is the same hash, so the same bits (tested against
JAX's own lowering and Random123's known answer), fused into one loop; it
also compiled faster here (`benchmarks/RESULTS.md`). `import fedjax_sim`
registers it for CPU, once per process.
"""

from __future__ import annotations

from jax.extend.random import threefry2x32_p
from jax.interpreters import mlir


def unroll_threefry() -> bool:
  """Lowers `threefry2x32` on CPU with JAX's unrolled rule, the one it uses
  on other backends; programs lowered before keep theirs. Returns False,
  changing nothing, where this JAX no longer has that rule."""
  try:
    from jax._src.random.threefry2x32 import _threefry2x32_lowering_rule as rule
  except ImportError:
    return False
  mlir.register_lowering(threefry2x32_p, rule, platform='cpu')
  return True
