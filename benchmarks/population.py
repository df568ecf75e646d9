"""Device memory against the size of the client population (SCAFFOLD).

SCAFFOLD keeps a control variate per client. Workload: Synthetic(1, 1)
logistic regression, client sizes capped at 40 examples, 100 clients per
round, 1 epoch of batch 10 (`configs/scaffold.py:synthetic`, shrunk), run
through `fedjax_sim.train` with `engine.population` `device` (data and
client states dense on the device), `host` (both in host memory; each round
moves only the sampled rows) or `disk` (as `host`, the client states in
memory-mapped files, `fedjax_sim.run.disk_states`). "round MB" is what the
compiled round needs on the device: XLA's argument + output + temporary bytes
of its program (`memory_analysis()`; a CPU device reports no allocator
statistics). "host RSS MB" is the process's peak resident memory. Each point
runs in a fresh subprocess. `--hidden=H` trains a 60-H-10 MLP instead, whose
larger client states (57 KB each at H=200) dominate host memory.

  python benchmarks/population.py --clients=1000,10000,100000 --placements=host,device,disk
  python benchmarks/population.py --clients=1000,100000 --placements=host,disk --hidden=200
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_CLIENTS = flags.DEFINE_list('clients', ['1000', '10000', '100000'], 'Population sizes.')
_PLACEMENTS = flags.DEFINE_list('placements', ['host', 'device', 'disk'],
                                'engine.population values.')
_HIDDEN = flags.DEFINE_integer('hidden', 0, 'Hidden units of an MLP instead of logistic '
                               'regression (larger client states).')
_ROUNDS = flags.DEFINE_integer('rounds', 6, 'Rounds (the first compiles; the rest are timed).')
_CHILD = flags.DEFINE_string('child', '', 'Internal: run one point, "<clients>,<placement>".')


def config(clients: int, placement: str, rounds: int, hidden: int):
  from configs import scaffold
  cfg = scaffold.get_config('synthetic')
  cfg.data.num_clients, cfg.data.max_client_size = clients, 40
  cfg.clients_per_round, cfg.rounds, cfg.eval_every = 100, rounds, rounds
  cfg.engine.population = placement
  if hidden:
    cfg.model.name, cfg.model.options = 'mlp', {'hidden': (hidden,)}
  return cfg


class TimedRound:
  """Wraps a round function: times each call, keeps the compiled program's
  memory analysis of the first."""

  def __init__(self, round_fn):
    self.round_fn, self.times, self.memory = round_fn, [], None

  def __call__(self, *args, **kwargs):
    import jax
    if self.memory is None:
      self.memory = self.round_fn.lower(*args, **kwargs).compile().memory_analysis()
    start = time.perf_counter()
    out = jax.block_until_ready(self.round_fn(*args, **kwargs))
    self.times.append(time.perf_counter() - start)
    return out


def run_point(clients: int, placement: str, rounds: int) -> dict:
  """One population size and placement, in this process."""
  import fedjax_sim.config.train as train_lib
  build, timed = train_lib.build_experiment, []

  def build_timed(cfg, *args):
    exp = build(cfg, *args)
    timed.append(TimedRound(exp.round_fn))
    return exp._replace(round_fn=timed[-1])

  train_lib.build_experiment = build_timed
  train_lib.train(config(clients, placement, rounds, _HIDDEN.value), progress='none')
  memory = timed[0].memory
  round_bytes = (memory.argument_size_in_bytes + memory.output_size_in_bytes
                 + memory.temp_size_in_bytes)
  return {'clients': clients, 'placement': placement,
          'round_mb': round_bytes / 2**20, 'round_s': statistics.median(timed[0].times[1:]),
          'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10}


def main(argv):
  del argv
  if _CHILD.value:
    clients, placement = _CHILD.value.split(',')
    print(json.dumps(run_point(int(clients), placement, _ROUNDS.value)))
    return
  model = f'a 60-{_HIDDEN.value}-10 MLP' if _HIDDEN.value else 'logistic regression'
  print(f'SCAFFOLD, Synthetic(1,1), {model}, 100 clients per round, '
        f'median of {_ROUNDS.value - 1} rounds')
  print('| clients | population | round MB (device) | round s | host RSS MB |')
  print('|---:|---|---:|---:|---:|')
  for clients in map(int, _CLIENTS.value):
    for placement in _PLACEMENTS.value:
      out = subprocess.run([sys.executable, os.path.abspath(__file__),
                            f'--child={clients},{placement}', f'--rounds={_ROUNDS.value}',
                            f'--hidden={_HIDDEN.value}'],
                           capture_output=True, text=True)
      if out.returncode:
        print(f'| {clients:,} | {placement} | failed: {out.stderr.strip().splitlines()[-1]} | | |')
        continue
      r = json.loads(out.stdout.strip().splitlines()[-1])
      print(f"| {clients:,} | {placement} | {r['round_mb']:,.2f} | {r['round_s']:.4f} | "
            f"{r['rss_mb']:,.0f} |", flush=True)


if __name__ == '__main__':
  app.run(main)
