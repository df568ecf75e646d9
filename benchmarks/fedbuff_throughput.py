"""FedBuff's simulation speed against synchronous rounds of the same clients.

Both train `--clients` clients per program with the default engine settings
(`auto` layout, one CPU device per core, as scripts/train.py runs): a
synchronous FedAvg round of that many sampled clients, and a FedBuff server
program (buffer size K = `--clients`, `--concurrency` clients in flight:
store the K new updates, take the next K reports by virtual time, update the
model, sample the next K). Data: digits over `--num_clients` clients with
heavy-tailed (power-law) sizes, 5 local epochs of batch 5. The figure is real
client-steps per second (steps the trained clients really run), the median
of `--repeats` interleaved timings of `--rounds` programs each.

  python benchmarks/fedbuff_throughput.py --repeats=5
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

from configs import default  # noqa: E402
from fedjax_sim.core.state import init_state  # noqa: E402
from fedjax_sim.core.sharding import use_cpu_cores  # noqa: E402
from fedjax_sim.data.batching import plan_batches, real_steps  # noqa: E402
from fedjax_sim.data.packed import for_round  # noqa: E402
from fedjax_sim.distributed import replicate  # noqa: E402
from fedjax_sim.config.experiment import build_experiment  # noqa: E402
from fedjax_sim.run.schedule import sample_and_round_keys  # noqa: E402

_CLIENTS = flags.DEFINE_integer('clients', 10, 'Clients trained per program (K).')
_CONCURRENCY = flags.DEFINE_integer('concurrency', 30, "FedBuff's clients in flight.")
_NUM_CLIENTS = flags.DEFINE_integer('num_clients', 100, 'Clients in the population.')
_ROUNDS = flags.DEFINE_integer('rounds', 50, 'Programs per timing.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Interleaved timings per system.')


def config(asynchronous: bool):
  c = default.get_config()
  c.data.num_clients, c.data.partition = _NUM_CLIENTS.value, 'powerlaw'
  c.client.batch_size, c.client.epochs = 5, 5
  c.clients_per_round = _CLIENTS.value
  if asynchronous:
    c.fedbuff.update(buffer_size=_CLIENTS.value, concurrency=_CONCURRENCY.value)
  return c


class System:
  """A built experiment and its state, timed `rounds` programs at a time."""

  def __init__(self, asynchronous: bool):
    c = config(asynchronous)
    self.exp = build_experiment(c, log=lambda line: None)
    self.asynchronous, self.seed, self.next_round = asynchronous, c.seed, 0
    train = self.exp.dataset.train
    self.place = (lambda t: replicate(t, self.exp.mesh)) if self.exp.mesh else jax.device_put
    self.data = self.place(for_round(train))
    self.counts = jnp.asarray(train.counts)
    self.plan = plan_batches(train.max_examples, c.client.batch_size, c.client.epochs,
                             c.client.steps)
    params = self.exp.model.init(jax.random.PRNGKey(0), jnp.asarray(self.exp.dataset.test['x'][:1]))
    state = init_state(self.exp.algorithm, params, train.num_clients)
    self.state = jax.tree.map(self.place, state)

  def run(self, rounds: int) -> tuple[float, int]:
    """Seconds and real client-steps of `rounds` programs, run as
    `fedjax_sim.train` runs them."""
    trained = []
    start = time.perf_counter()
    for _ in range(rounds):
      sample_key, round_key = sample_and_round_keys(self.seed, self.next_round)
      ids = (jnp.copy(self.state.server.next_clients) if self.asynchronous
             else self.exp.sample_fn(sample_key))
      trained.append(ids)
      self.state, _ = self.exp.round_fn(self.state, self.data, self.place(ids),
                                        self.place(round_key))
      self.next_round += 1
    jax.block_until_ready(self.state)
    seconds = time.perf_counter() - start
    return seconds, sum(int(jnp.sum(real_steps(self.counts[ids], self.plan))) for ids in trained)


def main(argv):
  del argv
  systems = {'synchronous FedAvg': System(False), 'FedBuff': System(True)}
  for system in systems.values():
    system.run(3)  # compile and warm up
  rates = {name: [] for name in systems}
  seconds = {name: [] for name in systems}
  steps = {name: 0 for name in systems}
  for _ in range(_REPEATS.value):
    for name, system in systems.items():
      elapsed, done = system.run(_ROUNDS.value)
      rates[name].append(done / elapsed)
      seconds[name].append(elapsed / _ROUNDS.value)
      steps[name] += done
  sync = statistics.median(rates['synchronous FedAvg'])
  print(f'{_CLIENTS.value} clients per program, FedBuff concurrency {_CONCURRENCY.value}, '
        f'{_NUM_CLIENTS.value} clients, {jax.device_count()} device(s)')
  print('| system | ms per program | real steps per program | client-steps/s (median) '
        '| runs | vs synchronous |')
  print('|---|---:|---:|---:|---|---:|')
  for name, values in rates.items():
    median = statistics.median(values)
    runs = ', '.join(f'{v:,.0f}' for v in values)
    per_program = steps[name] / (_REPEATS.value * _ROUNDS.value)
    print(f'| {name} | {statistics.median(seconds[name]) * 1e3:.2f} | {per_program:.0f} '
          f'| {median:,.0f} | {runs} | {median / sync:.2f}x |')


if __name__ == '__main__':
  use_cpu_cores()  # what scripts/train.py does; `auto` then uses every core
  app.run(main)
