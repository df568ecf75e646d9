"""`import fedjax_sim` lowers threefry on CPU unrolled (`core.cpu_random`):
no `while` in a draw's program, and the same bits as JAX's own rolled
lowering and Random123's known answers."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

import fedjax_sim  # noqa: F401  (registers the lowering)
from fedjax_sim.core import cpu_random

DRAWS = """
import jax, jax.numpy as jnp
key = jax.random.PRNGKey(7)
def draws(key):
  a, b = jax.random.split(key)
  return {'bernoulli': jax.random.bernoulli(a, 0.75, (20, 12, 12, 64)).astype(jnp.uint32),
          'uniform': jax.lax.bitcast_convert_type(jax.random.uniform(b, (999,)), jnp.uint32),
          'fold_in': jax.random.fold_in(key, 3),
          'bits': jax.random.bits(b, (4, 1001), jnp.uint32)}
program = jax.jit(draws).lower(key).compile().as_text()
out = {k: v.tolist() for k, v in jax.jit(draws)(key).items()}
"""


def test_a_draw_compiles_without_a_loop():
  # As the import left it (the rule registered again only afterwards).
  hlo = jax.jit(lambda k: jax.random.bernoulli(k, 0.5, (100,))).lower(
      jax.random.PRNGKey(0)).compile().as_text()
  assert 'while' not in hlo
  assert cpu_random.unroll_threefry()  # this JAX still has the rule


def test_known_answers_of_random123():
  """Threefry-2x32, 20 rounds: Random123's known-answer vectors."""
  cases = [((0, 0), (0, 0), (0x6b200159, 0x99ba4efe)),
           ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
           ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0))]
  hash_ = jax.jit(threefry_2x32)
  for key, count, expected in cases:
    out = hash_(jnp.asarray(key, jnp.uint32), jnp.asarray(count, jnp.uint32))
    assert [int(v) for v in out] == list(expected)


def test_the_same_bits_as_jax_rolled_lowering():
  """A process without fedjax_sim (JAX's rolled loop, checked) draws the same bits."""
  script = DRAWS + "print(json.dumps({'loop': 'while' in program, 'out': out}))"
  child = subprocess.run([sys.executable, '-c', 'import json\n' + script],
                         capture_output=True, text=True, timeout=300, check=True)
  theirs = json.loads(child.stdout.strip().splitlines()[-1])
  assert theirs['loop']
  scope = {}
  exec(DRAWS, scope)
  assert 'while' not in scope['program']
  for name, values in scope['out'].items():
    np.testing.assert_array_equal(np.asarray(values), np.asarray(theirs['out'][name]), err_msg=name)
