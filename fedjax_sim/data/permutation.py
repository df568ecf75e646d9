"""Exact random permutations of `[0, n)` evaluated one index at a time.

`permute(seed, i, n)` is a swap-or-not shuffle (Hoang, Morris and Rogaway,
CRYPTO 2012): every round pairs `x` with `(k_r - x) mod n` and swaps the pair
when a hash of the pair's larger member says so. Each round is an involution
of `[0, n)`, so the composition is a bijection for every `n`: an epoch visits
every example exactly once. Only the indices a client actually uses are
computed (O(1) each, no sort of the padded example axis and no loop).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ROUNDS = 12
_GOLDEN = 0x9E3779B9


def mix32(x: jax.Array) -> jax.Array:
  """The murmur3 finalizer: a bijective avalanche hash of uint32 values."""
  x = jnp.asarray(x, jnp.uint32)
  x ^= x >> 16
  x *= jnp.uint32(0x85EBCA6B)
  x ^= x >> 13
  x *= jnp.uint32(0xC2B2AE35)
  return x ^ (x >> 16)


def seed_of(key: jax.Array) -> jax.Array:
  """A uint32 permutation seed drawn from a PRNG key."""
  return jax.random.bits(key, (), jnp.uint32)


def epoch_seed(seed: jax.Array, epoch: jax.Array) -> jax.Array:
  """The seed of epoch `epoch` of a stream: a fresh permutation per epoch."""
  return mix32(seed ^ mix32(jnp.asarray(epoch, jnp.uint32) + jnp.uint32(_GOLDEN)))


def permute(seed: jax.Array, i: jax.Array, n: jax.Array) -> jax.Array:
  """Image of `i` (int32, any shape, in `[0, n)`) under the permutation of
  `[0, n)` (`1 <= n < 2**24`) that `seed` (uint32, broadcastable to `i`)
  selects."""
  x = jnp.asarray(i, jnp.uint32)
  n = jnp.asarray(n, jnp.uint32)
  scale = n.astype(jnp.float32) * jnp.float32(2. ** -24)
  for r in range(ROUNDS):
    # This round's key material (a multiply-xorshift of the seed) gives the
    # pairing offset k in [0, n) and keys the swap bit of each pair.
    h = (seed ^ jnp.uint32((r + 1) * _GOLDEN & 0xFFFFFFFF)) * jnp.uint32(0x7FEB352D)
    h ^= h >> 15
    k = jnp.minimum((h >> 8).astype(jnp.float32) * scale, n - 1).astype(jnp.uint32)
    partner = k + n - x
    partner = jnp.where(partner >= n, partner - n, partner)
    f = (jnp.maximum(x, partner) ^ h) * jnp.uint32(0x846CA68B)
    f ^= f >> 16
    x = jnp.where((f * jnp.uint32(0x9E3779B1)) >> 31 == 1, partner, x)
  return x.astype(jnp.int32)
