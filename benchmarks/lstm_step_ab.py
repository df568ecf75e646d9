"""The char-LSTM's training step, this checkout's layer against another revision's.

One process, interleaved (A, B, A, B, ...): `scan`s of `--steps` SGD steps of
the Shakespeare model (`char_lstm`, 2x256, batch [4, 80]), once with
`fedjax_sim/models/lstm_layer.py` as it is here and once with the same file
at `--against` (read with `git show`), optionally pinned to one core
(`taskset -c 0 python ...`). Prints each one's median steps/s and the largest
parameter difference after the steps (the layers compute the same values).

  python benchmarks/lstm_step_ab.py --against=88c2aba [--repeats=7] [--steps=20]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
LAYER = 'fedjax_sim/models/lstm_layer.py'


def layer_at(rev: str):
  """`lstm_layer` as it was at git revision `rev`, as a module."""
  source = subprocess.run(['git', 'show', f'{rev}:{LAYER}'], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
  path = os.path.join(tempfile.mkdtemp(), 'lstm_layer_at_rev.py')
  with open(path, 'w') as f:
    f.write(source)
  spec = importlib.util.spec_from_file_location('lstm_layer_at_rev', path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # flax modules look their module up
  spec.loader.exec_module(module)
  return module


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--against', required=True, help='a git revision')
  parser.add_argument('--repeats', type=int, default=7)
  parser.add_argument('--steps', type=int, default=20)
  args = parser.parse_args()
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from fedjax_sim.models import lstm_layer
  from fedjax_sim.models.char_lstm import LSTMLanguageModel

  model = LSTMLanguageModel(num_classes=90)
  x = jnp.asarray(np.random.default_rng(0).integers(0, 90, (4, 80)), jnp.int32)
  params = model.init(jax.random.PRNGKey(0), x)

  def loss(p):
    return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), x).mean()

  def sgd():  # a new function each time: jit would reuse the first one's trace
    def run(p):
      step = lambda p, _: (jax.tree.map(lambda a, g: a - 0.1 * g, p, jax.grad(loss)(p)), None)
      return jax.lax.scan(step, p, None, length=args.steps)[0]
    return run

  here = lstm_layer._make_lstm
  runs = {}
  for name, make in (('here', here), (args.against, layer_at(args.against)._make_lstm)):
    lstm_layer._make_lstm = make  # read when the model is traced
    runs[name] = jax.jit(sgd()).lower(params).compile()
  lstm_layer._make_lstm = here
  ends = [jax.tree.leaves(run(params)) for run in runs.values()]
  diff = max(float(jnp.abs(a - b).max()) for a, b in zip(*ends))
  rates = {name: [] for name in runs}
  for _ in range(args.repeats):
    for name, run in runs.items():
      start = time.perf_counter()
      jax.block_until_ready(run(params))
      rates[name].append(args.steps / (time.perf_counter() - start))
  print(f'char-LSTM step, batch [4, 80], {args.steps} SGD steps a scan, '
        f'{args.repeats} interleaved repeats; parameters differ by {diff:.1e} at the end')
  for name, r in rates.items():
    print(f'{name:>12}: {statistics.median(r):6.1f} steps/s  ({", ".join(f"{v:.1f}" for v in r)})')


if __name__ == '__main__':
  main()
