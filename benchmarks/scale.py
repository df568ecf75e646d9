"""Peak host memory and compile time against clients per round (EMNIST CNN).

Workload: the `cnn` model (28x28x1 inputs, 62 classes), FedAvg, one local
epoch of batch 20 per client on random data; with the default 20 examples per
client that is one step per client (the minimum; XLA:CPU runs this CNN
inside the round's scans at well under 10 client-steps/s, so large rounds are
compiled only by default). Every client of the data set is sampled.

Each (clients, strategy) configuration runs in a fresh subprocess, which
reports: the data array size; its resident memory after building the data
(jax, the model and the data); the peak resident memory (VmHWM) while
compiling and running the round, reset after the data is built (Linux
`/proc/self/clear_refs`), and that peak minus the post-data memory; the time
to lower and compile the round (`jit(...).lower(...).compile()`); the median
steady round time and the client-steps/s of real (not padding) clients.
`vmap` is skipped above `--vmap_max` clients; above `--run_max` clients the
round is only lowered and compiled (peak then covers compilation only), and
`XLA temp MB` (`compiled.memory_analysis()`) gives its planned working memory.

  python benchmarks/scale.py [--clients=10,100,1000,10000] \
      [--strategies=chunked:64,vmap] [--vmap_max=1000] [--run_max=100] \
      [--examples=20] [--repeats=1]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from absl import app, flags  # noqa: E402

import fedjax_sim as fs  # noqa: E402

_CLIENTS = flags.DEFINE_list('clients', ['10', '100', '1000', '10000'],
                             'Clients per round (= clients in the data set).')
_STRATEGIES = flags.DEFINE_list('strategies', ['chunked:64', 'vmap'],
                                'Engine strategies, chunked:K for chunk size K.')
_VMAP_MAX = flags.DEFINE_integer('vmap_max', 1000,
                                 'Skip vmap above this many clients per round.')
_EXAMPLES = flags.DEFINE_integer('examples', 20, 'Examples per client.')
_REPEATS = flags.DEFINE_integer('repeats', 1, 'Timed rounds after the first (median).')
_RUN_MAX = flags.DEFINE_integer('run_max', 100, 'Above this many clients per round, '
                                'only lower and compile the round (no execution).')
_TIMEOUT = flags.DEFINE_integer('timeout', 900, 'Seconds allowed per configuration.')
_CHILD = flags.DEFINE_string('child', '', 'Internal: run one `clients,strategy` '
                             'configuration and print its result as JSON.')

BATCH, CLASSES, LR = 20, 62, 0.05
SHAPE = (28, 28, 1)
MB = 2 ** 20


def proc_status_kb(field: str) -> int:
  """A `kB` field (VmRSS, VmHWM) of /proc/self/status."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1])
  raise KeyError(field)


def reset_peak_rss() -> None:
  """Resets VmHWM to the current resident size (Linux >= 4.0)."""
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')


def make_data(num_clients: int, examples: int) -> fs.FederatedData:
  """Random float32 images and labels, built without a float64 temporary."""
  rng = np.random.default_rng(0)
  return fs.FederatedData(
      {'x': rng.standard_normal((num_clients, examples) + SHAPE, np.float32),
       'y': rng.integers(0, CLASSES, (num_clients, examples)).astype(np.int32)},
      np.full(num_clients, examples, np.int32))


def run_one(clients: int, strategy: str, examples: int, repeats: int,
            execute: bool) -> dict:
  """Builds, compiles and (if `execute`) times one round configuration."""
  model = fs.get_model('cnn', CLASSES)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + SHAPE))
  data = make_data(clients, examples)
  data_bytes = sum(a.nbytes for a in jax.tree.leaves(data))
  data = jax.device_put(data)  # on CPU the device is host memory
  jax.block_until_ready(data)
  setup_peak = proc_status_kb('VmHWM')
  after_data = proc_status_kb('VmRSS')
  reset_peak_rss()

  name, _, chunk = strategy.partition(':')
  algorithm = fs.fedavg(model, optax.sgd(LR), optax.sgd(1.))
  plan = fs.plan_batches(examples, BATCH, epochs=1)
  round_fn = fs.build_round(algorithm, plan, name, int(chunk or 1))
  state = fs.init_state(algorithm, params, clients)
  ids = jnp.arange(clients, dtype=jnp.int32)
  key = jax.random.PRNGKey(0)

  start = time.perf_counter()
  lowered = round_fn.lower(state, data, ids, key)
  lower_s = time.perf_counter() - start
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start - lower_s
  memory = compiled.memory_analysis()
  result = {
      'clients': clients, 'strategy': strategy, 'data_mb': data_bytes / MB,
      'after_data_mb': after_data / 1024, 'lower_s': lower_s,
      'compile_s': compile_s, 'temp_mb': memory.temp_size_in_bytes / MB,
  }
  if not execute:
    round_peak = proc_status_kb('VmHWM')
    return {**result, 'peak_mb': max(setup_peak, round_peak) / 1024,
            'round_extra_mb': (round_peak - after_data) / 1024}

  times = []
  for _ in range(repeats + 1):
    start = time.perf_counter()
    state, metrics = compiled(state, data, ids, key)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  round_peak = proc_status_kb('VmHWM')
  steady = statistics.median(times[1:])
  return {**result, 'peak_mb': max(setup_peak, round_peak) / 1024,
          'round_extra_mb': (round_peak - after_data) / 1024,
          'first_s': times[0], 'round_s': steady,
          'client_steps_s': clients * plan.num_steps / steady}


def run_child(clients: int, strategy: str) -> dict | str:
  """Runs one configuration in a fresh interpreter; its dict, or why not."""
  command = [sys.executable, os.path.abspath(__file__), f'--child={clients},{strategy}',
             f'--examples={_EXAMPLES.value}', f'--repeats={_REPEATS.value}',
             f'--run_max={_RUN_MAX.value}']
  try:
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=_TIMEOUT.value)
  except subprocess.TimeoutExpired:
    return f'timed out after {_TIMEOUT.value} s'
  if done.returncode != 0:
    return f'failed (exit {done.returncode}): {done.stderr.strip()[-300:]}'
  return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _CHILD.value:
    clients, strategy = _CHILD.value.split(',')
    print(json.dumps(run_one(int(clients), strategy, _EXAMPLES.value, _REPEATS.value,
                             int(clients) <= _RUN_MAX.value)))
    return
  print(f'jax {jax.__version__}  devices {jax.devices()}  cpu cores {os.cpu_count()}  '
        f'examples/client {_EXAMPLES.value}  batch {BATCH}', flush=True)
  print('| clients | strategy | data MB | RSS after data MB | peak RSS MB | '
        'peak - after data MB | XLA temp MB | lower s | compile s | first round s | '
        'steady round s | client-steps/s |')
  print('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|', flush=True)
  for clients in map(int, _CLIENTS.value):
    for strategy in _STRATEGIES.value:
      if strategy.startswith('vmap') and clients > _VMAP_MAX.value:
        print(f'| {clients:,} | {strategy} | skipped: above --vmap_max='
              f'{_VMAP_MAX.value} |', flush=True)
        continue
      r = run_child(clients, strategy)
      if isinstance(r, str):
        print(f'| {clients:,} | {strategy} | {r} |', flush=True)
        continue
      timing = (f"{r['first_s']:.2f} | {r['round_s']:.2f} | {r['client_steps_s']:,.2f}"
                if 'round_s' in r else 'compiled only | - | -')
      print(f"| {clients:,} | {strategy} | {r['data_mb']:,.1f} | {r['after_data_mb']:,.0f} "
            f"| {r['peak_mb']:,.0f} | {r['round_extra_mb']:,.0f} | {r['temp_mb']:,.1f} "
            f"| {r['lower_s']:.2f} | {r['compile_s']:.2f} | {timing} |", flush=True)


if __name__ == '__main__':
  app.run(main)
