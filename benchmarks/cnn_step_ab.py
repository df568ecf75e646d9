"""The EMNIST CNN's client step inside the engine's round, as % of the matmul peak.

One process (`fs.use_cpu_cores()`, as `fedjax_sim:auto` runs): the
`benchmarks/peers` `cnn` workload (equal sizes, 10 steps of batch 20 per
client, dropout 0.25) in `engine_round(..., 'auto')`, for each convolution
variant, timed interleaved (A, B, A, B, ...) with a 2048^3 fp32 matmul
(the peak), medians. FLOPs: XLA's cost analysis of one client step (batch
20, `masked_loss` gradient) with im2col convolutions (a direct convolution's
FLOPs, whatever the variant computes them by).

  python benchmarks/cnn_step_ab.py [--clients=20] [--repeats=5] [--variants=default,xla]

Variants: `default` (the library as it is), `taps`, `winograd` and `xla`
(`lax.conv`) (`model.options.conv`),
`strategy=<engine strategy>` (the library's convolution, another client
mapping, e.g. `strategy=chunked:2@2`), `threefry_rolled` (the library,
compiled with JAX's own rolled threefry loop on CPU, which `import
fedjax_sim` replaces: `core/cpu_random.py`), and the names in `VARIANTS`
(experiments, swapped in for `tap_conv.tap_conv`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'peers'))
sys.path.insert(0, os.path.dirname(HERE))


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--clients', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--variants', default='default,xla')
  parser.add_argument('--profile', action='store_true',
                      help="instead: the library's step, 10 in a scan, traced with "
                      'jax.profiler: the share of XLA:CPU thunk time per HLO op')
  args = parser.parse_args()
  if args.profile:
    profile()
    return
  import launch
  known = ('default', 'taps', 'winograd', 'xla', 'threefry_rolled', *VARIANTS)
  for name in args.variants.split(','):
    if name not in known and not name.startswith('strategy='):
      launch.usage_error(f'--variants: unknown variant {name!r}; expected one of '
                         f'{", ".join(known)} or strategy=<engine strategy>')
  import jax
  import fedjax_sim as fs
  fs.use_cpu_cores()
  import jax.numpy as jnp
  import jax_worker
  from fedjax_sim.models import cnn, tap_conv
  from fedjax_sim.models.model import masked_loss

  model, shape = jax_worker.build_model('cnn', conv='taps')  # direct convolution FLOPs
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + shape))
  x, y = jnp.zeros((20,) + shape), jnp.zeros(20, jnp.int32)
  step = jax.jit(lambda p: jax.grad(masked_loss, argnums=1)(
      model, p, {'x': x, 'y': y}, jnp.ones(20, bool), jax.random.PRNGKey(0)))
  gflop = step.lower(params).compile().cost_analysis()['flops'] / 1e9

  big = jnp.ones((2048, 2048), jnp.float32)
  square = jax.jit(lambda a: a @ a)
  square(big).block_until_ready()
  runs = {'peak': lambda: square(big).block_until_ready()}
  original_conv, original_fn = cnn.conv_layer, tap_conv.tap_conv
  for name in args.variants.split(','):
    cnn.conv_layer = original_conv
    tap_conv.tap_conv = original_fn
    if name in ('taps', 'winograd', 'xla'):
      cnn.conv_layer = lambda f, k, impl, n, name=name: original_conv(f, k, name, n)
    elif name not in ('default', 'threefry_rolled') and not name.startswith('strategy='):
      tap_conv.tap_conv = VARIANTS[name]
    strategy = name.partition('=')[2] if name.startswith('strategy=') else 'auto'
    lowering = rolled_threefry() if name == 'threefry_rolled' else contextlib.nullcontext()
    with lowering:
      run, _ = jax_worker.engine_round('cnn', args.clients, strategy)
      run()  # traces and compiles with this variant in place
    runs[name] = run
  cnn.conv_layer, tap_conv.tap_conv = original_conv, original_fn

  # Wall time, and this process's CPU time (all threads): on a machine other
  # processes share, CPU seconds count the work a round takes, not its waits
  # for a core.
  times = {name: [] for name in runs}
  cpu = {name: [] for name in runs}
  for _ in range(args.repeats):
    for name, run in runs.items():
      start, start_cpu = time.perf_counter(), time.process_time()
      run()
      times[name].append(time.perf_counter() - start)
      cpu[name].append(time.process_time() - start_cpu)
  peak = 2 * 2048 ** 3 / statistics.median(times.pop('peak')) / 1e9
  cpu_peak = 2 * 2048 ** 3 / statistics.median(cpu.pop('peak')) / 1e9
  print(f'jax {jax.__version__}, {len(jax.devices())} CPU devices; one client step '
        f'{gflop:.3f} GFLOP (XLA); 2048^3 matmul peak {peak:.1f} GFLOP/s '
        f'({cpu_peak:.1f} GFLOP per CPU-second)')
  steps = args.clients * 10
  for name, ts in times.items():
    rate = steps / statistics.median(ts)
    print(f'{name:<16} round {statistics.median(ts):.3f} s  {rate:6.1f} client-steps/s  '
          f'{rate * gflop:6.1f} GFLOP/s  {100 * rate * gflop / peak:5.1f}% of peak  '
          f'(rounds {", ".join(f"{t:.3f}" for t in ts)}); by CPU time: '
          f'{100 * steps * gflop / statistics.median(cpu[name]) / cpu_peak:5.1f}% of peak',
          flush=True)


@contextlib.contextmanager
def rolled_threefry():
  """Within: programs lowered with JAX's own CPU rule for threefry (a rolled
  loop), as without `import fedjax_sim`."""
  from jax.extend.random import threefry2x32_p
  from jax.interpreters import mlir
  from jax._src.random import threefry2x32 as threefry
  from fedjax_sim.core import cpu_random
  mlir.register_lowering(threefry2x32_p, threefry._threefry2x32_cpu_lowering_rule, platform='cpu')
  try:
    yield
  finally:
    cpu_random.unroll_threefry()  # the library's lowering again


def profile() -> None:
  """Thunk time per HLO instruction of one client's 10 local steps (batch
  20, dropout), summed over XLA:CPU's threads, over 3 runs."""
  import collections
  import glob
  import re
  import tempfile
  import jax
  import jax.numpy as jnp
  import jax_worker
  from jax._src.lib import _profile_data  # jax's xplane reader (private)
  from fedjax_sim.models.model import masked_loss

  model, shape = jax_worker.build_model('cnn')
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + shape))
  xs = jax.random.normal(jax.random.PRNGKey(1), (10, 20) + shape)
  ys = jnp.zeros((10, 20), jnp.int32)

  @jax.jit
  def client(p, xs, ys, key):
    def step(p, batch):
      x, y, k = batch
      g = jax.grad(masked_loss, argnums=1)(model, p, {'x': x, 'y': y}, jnp.ones(20, bool), k)
      return jax.tree.map(lambda a, b: a - 0.05 * b, p, g), None
    return jax.lax.scan(step, p, (xs, ys, jax.random.split(key, 10)))[0]

  key = jax.random.PRNGKey(0)
  jax.block_until_ready(client(params, xs, ys, key))
  with tempfile.TemporaryDirectory() as folder:
    with jax.profiler.trace(folder):
      for _ in range(3):
        jax.block_until_ready(client(params, xs, ys, key))
    data = _profile_data.ProfileData.from_file(
        glob.glob(folder + '/**/*.xplane.pb', recursive=True)[0])
    per_op = collections.Counter()
    for plane in data.planes:
      for line in plane.lines:
        if line.name.startswith('tf_XLAEigen'):
          for event in line.events:
            if event.name != 'ThunkExecutor::Execute':
              per_op[event.name] += event.duration_ns
  hlo = client.lower(params, xs, ys, key).compile().as_text()
  total = sum(per_op.values())
  for name, ns in per_op.most_common(30):
    line = next((l.strip() for l in hlo.split('\n') if re.search(rf'%{re.escape(name)} = ', l)), '')
    shape_of = line.split(' = ')[1].split(' ')[0] if line else ''
    op = re.search(r'op_name="jit\(client\)/while/body/(?:closed_call/)?([^"]*)"', line)
    print(f'{100 * ns / total:5.1f}%  {name:<28} {shape_of:<28} {op.group(1) if op else ""}')


def _vjp_conv(col2im: str):
  """VALID stride-1 tap_conv with a hand-written backward pass: the kernel
  gradient as one matmul of the saved patches, the input gradient as
  `col2im` 'pad' (one matmul, then the taps' padded slices summed),
  'padded_gemm' (the matmul of dy padded by the kernel's reach, then the
  taps' plain slices summed) or 'flip'
  (the full convolution of dy with the flipped kernel: another im2col
  matmul)."""
  import jax
  import jax.numpy as jnp
  from fedjax_sim.models.tap_conv import im2col

  @jax.custom_vjp
  def conv(x, kernel, bias):
    return fwd(x, kernel, bias)[0]

  def fwd(x, kernel, bias):
    kh, kw, cin, cout = kernel.shape
    patches = im2col(x, kh, kw)
    return patches @ kernel.reshape(-1, cout) + bias, (patches, kernel, x.shape)

  def bwd(res, dy):
    patches, kernel, shape = res
    kh, kw, cin, cout = kernel.shape
    flat = dy.reshape(-1, cout)
    dk = (patches.reshape(-1, kh * kw * cin).T @ flat).reshape(kernel.shape)
    db = flat.sum(0)
    oh, ow = dy.shape[-3:-1]
    if col2im == 'padded_gemm':
      # dy padded by the kernel's reach: the matmul's output rows outside dy
      # are zero, so col2im sums plain slices (no bounds checks).
      lead = [(0, 0)] * (dy.ndim - 3)
      padded = jnp.pad(dy, lead + [(kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)])
      gp = padded @ kernel.reshape(-1, cout).T
      height, width = shape[-3], shape[-2]
      dx = sum(gp[..., kh - 1 - i:kh - 1 - i + height, kw - 1 - j:kw - 1 - j + width,
                  (i * kw + j) * cin:(i * kw + j + 1) * cin]
               for i in range(kh) for j in range(kw))
    elif col2im == 'flip':
      padded = jnp.pad(dy, [(0, 0)] * (dy.ndim - 3) + [(kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)])
      flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2).reshape(-1, cin)
      dx = im2col(padded, kh, kw) @ flipped
    else:
      dp = dy @ kernel.reshape(-1, cout).T
      lead = [(0, 0)] * (dy.ndim - 3)
      dx = sum(jnp.pad(dp[..., (i * kw + j) * cin:(i * kw + j + 1) * cin],
                       lead + [(i, shape[-3] - oh - i), (j, shape[-2] - ow - j), (0, 0)])
               for i in range(kh) for j in range(kw))
    return dx, dk, db

  conv.defvjp(fwd, bwd)
  return lambda x, kernel, bias=None, strides=(1, 1), padding='VALID': conv(x, kernel, bias)


def _barrier_conv():
  """tap_conv of `x` materialized first (XLA otherwise fuses the producer,
  e.g. the previous layer's ReLU, into each of the taps' slices)."""
  import jax
  from fedjax_sim.models.tap_conv import tap_conv  # the library's, before any swap
  return lambda x, kernel, bias=None, strides=(1, 1), padding='VALID': tap_conv(
      jax.lax.optimization_barrier(x), kernel, bias, strides, padding)


def _rowtap_conv():
  """The kernel's rows as `kh` matmuls over a width-only im2col (`kw*cin`
  inputs), summed: a `kh`-times smaller im2col copy, and an input gradient
  reassembled from `kh` row slices of it instead of `kh*kw` taps."""
  from fedjax_sim.models.tap_conv import im2col

  def conv(x, kernel, bias=None, strides=(1, 1), padding='VALID'):
    assert padding == 'VALID'
    kh, kw, cin, cout = kernel.shape
    sh, sw = strides
    cols = im2col(x, 1, kw, (1, sw))
    out_h = (x.shape[-3] - kh) // sh + 1
    y = sum(cols[..., i:i + (out_h - 1) * sh + 1:sh, :, :] @ kernel[i].reshape(kw * cin, cout)
            for i in range(kh))
    return y if bias is None else y + bias
  return conv


def _nn_dx_conv():
  """tap_conv whose matmul has a custom JVP with `dp @ W` written against a
  materialised `W.T`: its transpose (the input gradient) is then the
  `[N, cout] x [cout, K]` layout rather than `[N, cout] x [K, cout]^T`."""
  import jax
  import jax.numpy as jnp
  from fedjax_sim.models.tap_conv import im2col

  @jax.custom_jvp
  def matmul(p, w):
    return p @ w

  @matmul.defjvp
  def matmul_jvp(primals, tangents):
    p, w = primals
    dp, dw = tangents
    wt = jax.lax.optimization_barrier(w.T)
    return p @ w, jnp.einsum('...k,ok->...o', dp, wt) + p @ dw

  def conv(x, kernel, bias=None, strides=(1, 1), padding='VALID'):
    assert padding == 'VALID'
    kh, kw, cin, cout = kernel.shape
    y = matmul(im2col(x, kh, kw, tuple(strides)), kernel.reshape(-1, cout))
    return y if bias is None else y + bias
  return conv


VARIANTS = {'vjp_pad': _vjp_conv('pad'), 'vjp_flip': _vjp_conv('flip'),
            'vjp_padded_gemm': _vjp_conv('padded_gemm'),
            'barrier': _barrier_conv(), 'rowtap': _rowtap_conv(), 'nn_dx': _nn_dx_conv()}

if __name__ == '__main__':
  main()
