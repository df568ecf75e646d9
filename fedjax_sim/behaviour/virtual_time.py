"""A point on the virtual clock, kept on the device: whole seconds (int32)
plus a float32 fraction in [0, 1), so that adding many rounds' durations
keeps sub-second precision for 68 virtual years (a float32 total would lose
a second per round after 194 days)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class VirtualTime(NamedTuple):
  seconds: jax.Array  # int32
  fraction: jax.Array  # float32 in [0, 1)


def zero() -> VirtualTime:
  return VirtualTime(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))


def advance(time: VirtualTime, duration: jax.Array) -> VirtualTime:
  """`time` plus `duration` (float32 seconds >= 0)."""
  total = time.fraction + duration
  whole = jnp.floor(total)
  return VirtualTime(time.seconds + whole.astype(jnp.int32), total - whole)


def modulo(time: VirtualTime, period: int) -> jax.Array:
  """float32 seconds since the start of the current `period` (whole seconds)."""
  return (time.seconds % period).astype(jnp.float32) + time.fraction


def since(time: VirtualTime, seconds: jax.Array, fraction: jax.Array) -> jax.Array:
  """float32 `time` minus the points (`seconds` int32, `fraction` float32),
  exact to float32 near each point."""
  return (time.seconds - seconds).astype(jnp.float32) + (time.fraction - fraction)


def split(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """float64 seconds as (int32 whole seconds, float32 fraction)."""
  whole = np.floor(points)
  return whole.astype(np.int32), (points - whole).astype(np.float32)


def to_float(time: VirtualTime) -> float:
  """Seconds, as a Python float (reads the device)."""
  return int(time.seconds) + float(time.fraction)
