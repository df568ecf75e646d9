"""One core's ceiling on the EMNIST CNN and char-LSTM steps, against PyTorch's.

The process pins itself to one core (its first allowed one) before JAX
starts; the PyTorch child inherits that core. For each workload, in
interleaved samples, each as % of the same sample's 2048^3 matmul (this VM's
matmul rate drifts between phases, so every ratio is taken within one):

- the step's matmuls alone, each looped in its fastest layout (`--dots`
  prints them one by one): the step's time if nothing but its matmuls took
  any (for the CNN, its convolutions as im2col matmuls: Winograd, which
  fedjax_sim runs conv2 by on CPU, does fewer multiplications);
- fedjax_sim's step (gradient and SGD update, dropout on: `jax_worker`'s
  model), 10 in a `fori_loop`, as inside a round;
- PyTorch's step (`peers/torch_step.py` in the pfl environment, one torch
  thread): the step pfl and Flower run for each batch.

All three count the FLOPs of XLA's cost analysis of fedjax_sim's step
(`flops.step_flops`). Medians over `--repeats` samples.

  python benchmarks/core_ceiling.py [--workloads=cnn,lstm] [--repeats=7] [--dots]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'peers'))
sys.path.insert(0, os.path.dirname(HERE))

BATCH = {'cnn': 20, 'lstm': 4}
STEPS = 10  # fedjax_sim steps per `fori_loop`, and PyTorch steps per sample
LOOP = 20  # iterations of each matmul's loop


class Dot(NamedTuple):
  """One matmul of a step: `equation` of operands shaped `lhs` and `rhs`,
  run `count` times a step; `chained`: each one's input is the previous
  one's output (a recurrence)."""

  name: str
  equation: str
  lhs: tuple[int, ...]
  rhs: tuple[int, ...]
  count: int = 1
  chained: bool = False


def cnn_dots() -> list[Dot]:
  """The EMNIST CNN step's matmuls at batch 20: im2col convolutions
  (conv1 `[20*26*26, 9]`, conv2 `[20*24*24, 288]`) and the dense layers;
  forward, input gradient (not for conv1) and kernel gradient."""
  dots = []
  for name, n, k, o in (('conv1', 20 * 26 * 26, 9, 32), ('conv2', 20 * 24 * 24, 288, 64),
                        ('dense', 20, 9216, 128), ('output', 20, 128, 62)):
    dots.append(Dot(f'{name} forward', 'nk,ko->no', (n, k), (k, o)))
    if name != 'conv1':
      dots.append(Dot(f'{name} input gradient', 'no,ok->nk', (n, o), (o, k)))
    dots.append(Dot(f'{name} kernel gradient', 'kn,no->ko', (k, n), (n, o)))
  return dots


def lstm_dots() -> list[Dot]:
  """The char-LSTM step's matmuls at batch [4, 80]: per layer the input
  projection of all 320 positions at once, the recurrence `h @ W_h` 80 times
  in a chain (forward, and the gradient's against `W_h^T`), the weight
  gradients summed over positions as one matmul; the output layer."""
  rows, hidden, gates, vocab = 4 * 80, 256, 1024, 90
  dots = []
  for layer, inputs in (('layer 1', 8), ('layer 2', hidden)):
    dots += [Dot(f'{layer} input projection', 'nk,kg->ng', (rows, inputs), (inputs, gates)),
             Dot(f'{layer} recurrence', 'bh,hg->bg', (4, hidden), (hidden, gates), 80, True),
             Dot(f'{layer} recurrence gradient', 'bg,gh->bh', (4, gates), (gates, hidden), 80,
                 True),
             Dot(f'{layer} W_x gradient', 'kn,ng->kg', (inputs, rows), (rows, gates)),
             Dot(f'{layer} W_h gradient', 'hn,ng->hg', (hidden, rows), (rows, gates))]
  dots.append(Dot('layer 2 input gradient', 'ng,gk->nk', (rows, gates), (gates, hidden)))
  return dots + [Dot('output forward', 'nk,kv->nv', (rows, hidden), (hidden, vocab)),
                 Dot('output input gradient', 'nv,vk->nk', (rows, vocab), (vocab, hidden)),
                 Dot('output kernel gradient', 'kn,nv->kv', (hidden, rows), (rows, vocab))]


def dot_timer(dot: Dot) -> Callable[[], float]:
  """Seconds a step spends in `dot` (`count` of them), from a loop of
  `LOOP`: chained, the next input is the output resized; otherwise one
  element of `rhs` changes each iteration (in place), so XLA cannot hoist
  the matmul out of its loop, at no cost worth counting."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.PRNGKey(0), dot.lhs)
  b = jax.random.normal(jax.random.PRNGKey(1), dot.rhs)
  small = jnp.float32(1e-6)
  out = jax.eval_shape(lambda a, b: jnp.einsum(dot.equation, a, b), a, b)
  iterations = dot.count * LOOP if dot.chained else LOOP

  def body(_, carry):
    a, b, y = carry
    if dot.chained:
      return _fit(y, a.shape) * small, b, jnp.einsum(dot.equation, a, b)
    b = b.at[0, 0].add(y[0, 0] * small)
    return a, b, jnp.einsum(dot.equation, a, b)

  loop = jax.jit(lambda a, b: jax.lax.fori_loop(
      0, iterations, body, (a, b, jnp.zeros(out.shape, out.dtype)))[2])
  loop(a, b).block_until_ready()

  def seconds() -> float:
    start = time.perf_counter()
    loop(a, b).block_until_ready()
    return (time.perf_counter() - start) / LOOP * (1 if dot.chained else dot.count)
  return seconds


def _fit(y, shape):
  """`y [b, m]` as `[b, n]`: summed over `m // n` blocks, or tiled."""
  import jax.numpy as jnp
  (rows, m), n = y.shape, shape[1]
  return y.reshape(rows, m // n, n).sum(1) if m >= n else jnp.tile(y, (1, n // m))


def jax_step_timer(workload: str) -> Callable[[], float]:
  """Seconds per fedjax_sim step: `STEPS` SGD steps in a `fori_loop`."""
  import jax
  import jax.numpy as jnp
  import jax_worker
  import workloads as wl
  from fedjax_sim.models.model import masked_loss
  model, shape = jax_worker.build_model(workload)
  batch = BATCH[workload]
  params = model.init(jax.random.PRNGKey(0), jax_worker.sample_input(workload))
  if workload == 'lstm':
    x = jax.random.randint(jax.random.PRNGKey(1), (batch,) + shape, 1, wl.VOCAB - 3)
  else:
    x = jax.random.normal(jax.random.PRNGKey(1), (batch,) + shape)
  data = {'x': x, 'y': jnp.zeros((batch,) + wl.LABEL_SHAPES.get(workload, ()), jnp.int32)}

  def body(i, p):
    grads = jax.grad(masked_loss, argnums=1)(model, p, data, jnp.ones(batch, bool),
                                             jax.random.fold_in(jax.random.PRNGKey(2), i))
    return jax.tree.map(lambda w, g: w - wl.LR * g, p, grads)

  loop = jax.jit(lambda p: jax.lax.fori_loop(0, STEPS, body, p))
  jax.block_until_ready(loop(params))

  def seconds() -> float:
    start = time.perf_counter()
    jax.block_until_ready(loop(params))
    return (time.perf_counter() - start) / STEPS
  return seconds


def torch_step_timer(workload: str, venvs: str) -> tuple[Callable[[], float], str, Callable]:
  """Seconds per PyTorch step, from a `torch_step.py` child; its version
  line; a function that stops it."""
  import launch
  python = os.path.join(venvs, 'pfl', 'bin', 'python')
  if not os.path.exists(python):
    launch.usage_error(f'--venvs: {python} not found; expected the pfl environment '
                       '(bash benchmarks/peers/setup_venv.sh pfl)')
  child = subprocess.Popen([python, os.path.join(HERE, 'peers', 'torch_step.py'),
                            f'--workload={workload}', f'--batch={BATCH[workload]}'],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  version = child.stdout.readline().strip().removeprefix('ready ')

  def seconds() -> float:
    child.stdin.write(f'{STEPS}\n')
    child.stdin.flush()
    return float(child.stdout.readline()) / STEPS

  def stop() -> None:
    child.stdin.close()
    child.wait()
  return seconds, version, stop


def measure(workload: str, repeats: int, venvs: str, show_dots: bool) -> None:
  """Prints `workload`'s table: each row's ms per step and % of the peak."""
  import flops
  gflop = flops.step_flops(workload, BATCH[workload]) / 1e9
  dots = cnn_dots() if workload == 'cnn' else lstm_dots()
  timers = {'fedjax_sim step': jax_step_timer(workload)}
  timers.update({f'dot: {d.name}': dot_timer(d) for d in dots})
  torch_seconds, version, stop = torch_step_timer(workload, venvs)
  timers[f'PyTorch {version} step'] = torch_seconds
  samples = {name: [] for name in timers}
  peaks = []  # GFLOP/s of each sample's 2048^3 matmul, the fastest of 3
  try:
    for _ in range(repeats):
      peaks.append(flops.matmul_peak(3) / 1e9)
      for name, seconds in timers.items():
        samples[name].append(seconds())
  finally:
    stop()
  dot_names = [n for n in samples if n.startswith('dot: ')]
  samples['the step\'s matmuls alone'] = [sum(samples[n][r] for n in dot_names)
                                          for r in range(repeats)]
  share = lambda ts: statistics.median(  # noqa: E731
      100 * gflop / t / peak for t, peak in zip(ts, peaks))
  print(f'\n{workload}: batch {BATCH[workload]}, {gflop:.3f} GFLOP a step (XLA); one core '
        f'(cpu {sorted(os.sched_getaffinity(0))}); peak {statistics.median(peaks):.1f} GFLOP/s')
  print('| on one core | ms per step | % of the core\'s peak |\n|---|---:|---:|')
  for name, ts in samples.items():
    dot = name.startswith('dot: ')
    if show_dots or not dot:
      print(f'| {name} | {1e3 * statistics.median(ts):.2f} | '
            f'{"" if dot else f"{share(ts):.1f}%"} |')
  jax_ms, torch_ms = (statistics.median(samples[n]) for n in
                      ('fedjax_sim step', f'PyTorch {version} step'))
  print(f'PyTorch step / fedjax_sim step: {torch_ms / jax_ms:.2f}')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workloads', default='cnn,lstm')
  parser.add_argument('--repeats', type=int, default=7)
  parser.add_argument('--dots', action='store_true', help='print each matmul too')
  import launch
  parser.add_argument('--venvs', default=launch.DEFAULT_VENVS)
  args = parser.parse_args()
  workloads = args.workloads.split(',')
  for w in workloads:
    if w not in BATCH:
      launch.usage_error(f'--workloads: unknown workload {w!r}; expected cnn, lstm')
  launch.check_sampling(args.repeats, 0)
  os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts its threads
  import jax
  jax.config.update('jax_num_cpu_devices', 1)
  print(f'jax {jax.__version__}')
  for w in workloads:
    measure(w, args.repeats, args.venvs, args.dots)


if __name__ == '__main__':
  try:
    main()
  except KeyboardInterrupt:  # Ctrl-C: one line (the PyTorch child stops with its group)
    print('core_ceiling.py: interrupted; nothing was measured to the end', file=sys.stderr)
    sys.exit(130)
