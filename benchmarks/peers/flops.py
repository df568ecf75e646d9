"""The FLOP side of the peer benchmark (this repository's environment only):
XLA's FLOP count of a workload's local SGD step, and the CPU's matmul peak,
timed in the same run, so round times become % of the peak.

XLA's cost analysis counts a loop's body once, not once per iteration. The
LSTM's step has four loops over the `SEQUENCE` positions (two layers,
forward and backward); with `u` positions per iteration (`unroll`) it counts
`rest + 4 u c` for `c` FLOPs per position and loop, so the step's FLOPs are
`f(1) + (SEQUENCE - 1) (f(2) - f(1))` (unrolling it fully takes minutes to
compile).
"""

from __future__ import annotations

import time

import numpy as np

import workloads as wl


def step_flops(workload: str, batch: int) -> float:
  """FLOPs of one local SGD step (gradient and update) of the fedjax_sim
  model on `batch` examples, from XLA's cost analysis (the CNN's with its
  convolutions as im2col matmuls: a direct convolution's FLOPs)."""
  if workload != 'lstm':
    return _counted_flops(workload, batch)
  once, twice = (_counted_flops(workload, batch, unroll) for unroll in (1, 2))
  return once + (wl.SEQUENCE - 1) * (twice - once)


def _counted_flops(workload: str, batch: int, unroll: int = 0) -> float:
  """XLA's count for one step, loop bodies once (the LSTM with `unroll`)."""
  import jax
  import jax.numpy as jnp
  import optax
  from jax_worker import build_model, sample_input  # puts the repository on the path
  import fedjax_sim as fs
  # The CNN's FLOPs are its direct convolutions' (as im2col computes them):
  # Winograd's fewer multiplications are a faster way to the same work.
  model, shape = build_model(workload, **({'conv': 'taps'} if workload == 'cnn' else {}))
  if unroll:
    model = fs.get_model('char_lstm', wl.VOCAB, {'unroll': unroll})
  params = model.init(jax.random.PRNGKey(0), sample_input(workload))
  x = jnp.zeros((batch,) + shape, sample_input(workload).dtype)
  y = jnp.zeros((batch,) + wl.LABEL_SHAPES.get(workload, ()), jnp.int32)
  batch_data, mask = {'x': x, 'y': y}, jnp.ones(batch, bool)

  def step(p):
    grads = jax.grad(fs.models.model.masked_loss, argnums=1)(model, p, batch_data, mask)
    return optax.apply_updates(p, jax.tree.map(lambda g: -wl.LR * g, grads))
  return float(jax.jit(step).lower(params).compile().cost_analysis()['flops'])


def examples_trained(counts: np.ndarray, plan: wl.Schedule) -> int:
  """Examples the clients' local steps process in one round (a short last
  batch counts its real examples)."""
  if plan.steps is not None:
    return int(np.where(counts > 0, plan.steps * plan.batch, 0).sum())
  return int(plan.epochs * counts.sum())


def matmul_peak(repeats: int = 20, n: int = 2048) -> float:
  """FLOP/s of an `n`^3 float32 matmul on all cores: the fastest of `repeats`
  (on a shared VM the rate drifts between phases, 140 to 200 GFLOP/s within
  seconds on the 2-core EPYC; a median of a few could land on a slow phase
  and overstate every % of the peak)."""
  import jax
  import jax.numpy as jnp
  a = jnp.ones((n, n), jnp.float32)
  square = jax.jit(lambda a: a @ a)
  square(a).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    square(a).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / min(times)
