"""A sweep as one program against its members run one at a time (issue 27).

For each workload (a sweep config of 36 members), in one interleaved run:
- `sweep`: `fedjax_sim.sweep(config)`, one vmapped program per round;
- `in-process`: `fedjax_sim.train` of every member one after another in one
  Python process, with JAX's persistent compilation cache on (the first
  member compiles, the others read the cache);
- `scripts`: `scripts/train.py` of every member one after another (each its
  own process: start-up, imports, compile through the same cache);
- `uncached`: as `in-process`, in a fresh process without the persistent
  cache (each run compiles its programs);
and the sweep program's memory (XLA's memory analysis) and this process's
peak resident memory.

    python benchmarks/sweep_speed.py [--workloads=digits,synthetic] [--repeats=2]
        [--scripts=36] [--scripts_for=digits]

`--scripts=N` times the first N members' scripts (of the workloads in
`--scripts_for`) and scales to all (0: skip).
Prints one Markdown table per workload.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CACHE = tempfile.mkdtemp(prefix='sweep_speed_xla_')
os.environ['JAX_COMPILATION_CACHE_DIR'] = CACHE
os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

from fedjax_sim.core.sharding import use_cpu_cores  # noqa: E402

use_cpu_cores()

import fedjax_sim as fs  # noqa: E402
from configs import default, sweep_learning_rates  # noqa: E402
from fedjax_sim.config import sweep as sweep_lib  # noqa: E402
from fedjax_sim.config.sections import as_json  # noqa: E402
from fedjax_sim.config.overrides import flag_value  # noqa: E402
from fedjax_sim.rundir import runlog  # noqa: E402

_WORKLOADS = flags.DEFINE_list('workloads', ['digits', 'synthetic'], 'Workloads to time.')
_REPEATS = flags.DEFINE_integer('repeats', 2, 'Interleaved repetitions of sweep and in-process.')
_SCRIPTS = flags.DEFINE_integer('scripts', 36, 'Members timed with scripts/train.py (0: none).')
_UNCACHED_FOR = flags.DEFINE_list(
    'uncached_for', ['synthetic'],
    'Workloads whose members are also timed in one process without the compilation cache.')
_SCRIPTS_FOR = flags.DEFINE_list('scripts_for', ['digits'],
                                 'Workloads whose members are also timed as scripts.')


def digits():
  """The Reddi-style grid on the digits default: 4 x 3 learning rates x 3 seeds, 60 rounds."""
  return sweep_learning_rates.get_config()


def synthetic():
  """Synthetic(1, 1) logistic regression (30 clients, 10 per round), the same
  grid shape: 4 client x 3 server learning rates x 3 seeds, 60 rounds."""
  config = default.get_config('synthetic')
  config.data.seed = 0
  config.sweep = sweep_lib.sweep_section({
      'client.optimizer.learning_rate': (0.003, 0.01, 0.03, 0.1),
      'server.optimizer.learning_rate': (0.3, 1., 3.),
      'seed': (0, 1, 2)})
  return config


WORKLOADS = {'digits': digits, 'synthetic': synthetic}


def quiet(line: str) -> None:
  del line


def time_sweep(config) -> float:
  start = time.perf_counter()
  fs.sweep(config, log=quiet, progress='none')
  return time.perf_counter() - start


def time_in_process(members) -> float:
  start = time.perf_counter()
  for member in members:
    fs.train(member.config, log=quiet, progress='none')
  return time.perf_counter() - start


UNCACHED = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
from fedjax_sim.core.sharding import use_cpu_cores
use_cpu_cores()
import fedjax_sim as fs
import sweep_speed
from fedjax_sim.config import sweep as sweep_lib
members = sweep_lib.members(sweep_speed.WORKLOADS[{name!r}]())
start = time.perf_counter()
for member in members:
  fs.train(member.config, log=lambda line: None, progress='none')
print(time.perf_counter() - start)
"""


def time_in_process_uncached(name: str) -> float:
  """The members one after another in a fresh process without the persistent
  compilation cache: every run compiles its programs."""
  env = {k: v for k, v in os.environ.items() if not k.startswith('JAX_')}
  code = UNCACHED.format(root=ROOT, here=os.path.dirname(os.path.abspath(__file__)), name=name)
  done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, check=True,
                        capture_output=True, text=True)
  return float(done.stdout.strip().splitlines()[-1])


def script_args(member) -> list[str]:
  """`scripts/train.py` flags that give the member's config."""
  base = as_json(default.get_config(member.config.data.name))
  flat, wanted = runlog.flatten(base), runlog.flatten(as_json(member.config))
  data = 'synthetic' if member.config.data.name == 'synthetic' else 'digits'
  args = [f'--config={os.path.join(ROOT, "configs", "default.py")}:{data}', '--progress=none']
  return args + [f'--config.{k}={flag_value(v)}' for k, v in wanted.items()
                 if flat.get(k, object()) != v]


def time_scripts(members) -> float:
  start = time.perf_counter()
  for member in members:
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
                    *script_args(member)], cwd=ROOT, check=True, capture_output=True)
  return time.perf_counter() - start


def sweep_memory(config) -> str:
  """XLA's memory analysis of the round program (arguments, outputs and
  temporaries) for the first 1, 12 and all members: how it grows with them."""
  from fedjax_sim.config.sweep_program import build_groups
  members = sweep_lib.members(config)
  out = []
  for size in (1, 12, len(members)):
    group = sweep_lib.groups(config, members[:size])[0]
    programs = build_groups(group, quiet, quiet)
    out.append(f'{size}: {programs[0].memory / 2**20:.1f} MiB ({len(programs)} program(s))')
  return ', '.join(out)


def main(argv):
  del argv
  print(f'jax {jax.__version__}, {jax.device_count()} CPU devices')
  for name in _WORKLOADS.value:
    config = WORKLOADS[name]()
    members = sweep_lib.members(config)
    sweeps, singles = [], []
    for _ in range(_REPEATS.value):
      sweeps.append(time_sweep(config))
      singles.append(time_in_process(members))
    scripted = (name in _SCRIPTS_FOR.value and _SCRIPTS.value
                and time_scripts(members[:_SCRIPTS.value]) * (
                    len(members) / min(_SCRIPTS.value, len(members))))
    uncached = name in _UNCACHED_FOR.value and time_in_process_uncached(name)
    sweep_s, single_s = statistics.median(sweeps), statistics.median(singles)
    print(f'\n### {name}: {len(members)} members, {config.rounds} rounds\n')
    print('| way | wall s | members/s | sweep is faster by |')
    print('|---|---:|---:|---:|')
    print(f'| sweep (one program per round) | {sweep_s:.1f} | {len(members) / sweep_s:.2f} | |')
    print(f'| in-process, one at a time, compile cached | {single_s:.1f} | '
          f'{len(members) / single_s:.2f} | {single_s / sweep_s:.1f}x |')
    if uncached:
      print(f'| in-process, one at a time, each compiling | {uncached:.1f} | '
            f'{len(members) / uncached:.2f} | {uncached / sweep_s:.1f}x |')
    if scripted:
      print(f'| scripts/train.py, one at a time | {scripted:.1f} | '
            f'{len(members) / scripted:.2f} | {scripted / sweep_s:.1f}x |')
    print(f'\nrepeats: sweep {[round(s, 1) for s in sweeps]}, '
          f'in-process {[round(s, 1) for s in singles]}; round program memory by members '
          f'(XLA: arguments + outputs + temporaries) {sweep_memory(config)}; peak resident '
          f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB')


if __name__ == '__main__':
  app.run(main)
