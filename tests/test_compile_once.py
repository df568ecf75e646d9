"""A round compiles once: new round keys or sampled clients reuse the program,
on one device and on a 2-device `clients` mesh driven by `train()`."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import optax
from jax import monitoring
from jax.sharding import NamedSharding, PartitionSpec as P

from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import build_round, init_state
from fedjax_sim.data import plan_batches, sample_clients
from conftest import xla_flags

COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'
ROUND_PROGRAM = 'jit(round_fn)'  # the event's `fun_name` for the round's program


def test_round_compiles_once_across_rounds(ragged_data, tiny_mlp):
  compiles = []

  def listener(event, duration, **kwargs):
    if event == COMPILE_EVENT:
      compiles.append(event)

  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.adam(0.01))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         'chunked', 2)
  state = init_state(algorithm, tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6))),
                     ragged_data.num_clients)
  data = jax.device_put(ragged_data)
  sample = jax.jit(lambda k: sample_clients(k, ragged_data.num_clients, 3))
  # Warm up: the first round compiles the round (and small helper programs).
  state, _ = round_fn(state, data, sample(jax.random.PRNGKey(0)), jax.random.PRNGKey(0))
  monitoring.register_event_duration_secs_listener(listener)
  try:
    seen = set()
    for r in range(1, 6):
      ids = sample(jax.random.PRNGKey(r))
      seen.add(tuple(ids.tolist()))
      state, metrics = round_fn(state, data, ids, jax.random.fold_in(jax.random.PRNGKey(1), r))
    jax.block_until_ready(state)
    assert len(seen) > 1  # the sampled clients did change
    assert compiles == []
    assert round_fn._cache_size() == 1
    # The counter does see compilations: a new number of clients recompiles.
    round_fn(state, data, jnp.arange(4, dtype=jnp.int32), jax.random.PRNGKey(9))
    assert len(compiles) >= 1 and round_fn._cache_size() == 2
  finally:
    monitoring.unregister_event_duration_listener(listener)


def test_sharded_round_compiles_once_when_inputs_are_replicated(ragged_data, tiny_mlp):
  # On a `clients` mesh the round returns replicated state; inputs placed the
  # same way (as train.py does) keep the second round on the first program.
  from fedjax_sim.core.sharding import client_mesh
  from fedjax_sim.distributed import replicate
  compiles = []

  def listener(event, duration, **kwargs):
    if event == COMPILE_EVENT:
      compiles.append(event)

  mesh = client_mesh()
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.adam(0.01))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         'sequential', 1, mesh)
  state = replicate(init_state(algorithm, tiny_mlp.init(jax.random.PRNGKey(0),
                                                         jnp.zeros((1, 6))),
                               ragged_data.num_clients), mesh)
  data = replicate(ragged_data, mesh)
  ids = replicate(jnp.array([0, 2, 3], jnp.int32), mesh)
  state, _ = round_fn(state, data, ids, jax.random.PRNGKey(0))
  monitoring.register_event_duration_secs_listener(listener)
  try:
    for r in range(1, 3):
      state, _ = round_fn(state, data, ids, jax.random.PRNGKey(r))
    jax.block_until_ready(state)
    assert compiles == []
  finally:
    monitoring.unregister_event_duration_listener(listener)


# --- Two devices, the real training path ---------------------------------
# Run in a subprocess with two forced CPU devices (XLA reads the flag once, at
# start-up): `python tests/test_compile_once.py` trains a few rounds per case
# through `fedjax_sim.train` and prints, per case, how often the round
# program was compiled, its jit cache size, and how many of the inputs train()
# passed were not already replicated over the mesh. Either placement alone
# (train() replicating its inputs, or the mesh round's `replicator`) keeps the
# round on one program; with neither, the second round recompiles.

MESH_CASES = {  # name: (engine.strategy, engine.shard_clients, engine.population)
    'auto': ('auto', False, 'device'),
    'sequential/shard_clients': ('sequential', True, 'device'),
    'chunked/shard_clients/host': ('chunked', True, 'host'),
}


def test_two_device_mesh_round_compiles_once_in_train():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = {**os.environ, 'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2'),
         'JAX_PLATFORMS': 'cpu',
         'PYTHONPATH': os.pathsep.join([root, os.environ.get('PYTHONPATH', '')])}
  proc = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                        text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert set(result) == set(MESH_CASES), result
  for name, case in result.items():
    assert case['devices'] == 2 and case['mesh_size'] == 2, (name, case)
    assert case['calls'] == case['rounds'] >= 4, (name, case)
    # Exactly one: zero would mean the counter saw nothing.
    assert case['round_compiles'] == 1, (name, case)
    assert case['cache_size'] == 1, (name, case)
    if MESH_CASES[name][2] == 'device':  # train() replicates what it passes
      assert case['unplaced_inputs'] == 0, (name, case)


def _mesh_main():
  from configs import default
  from fedjax_sim.config import experiment as build_lib
  from fedjax_sim.config import train as train_lib
  assert jax.device_count() == 2, jax.devices()
  result = {}
  for name, (strategy, shard_clients, population) in MESH_CASES.items():
    config = default.get_config()
    config.rounds, config.eval_every, config.clients_per_round = 5, 100, 5
    config.data.num_clients = 10
    config.model.options.hidden = (16,)
    config.engine.strategy, config.engine.chunk_size = strategy, 2
    config.engine.shard_clients, config.engine.population = shard_clients, population
    built, unplaced, compiles = [], [], []
    build_round = build_lib.build_round

    def capture(*args, **kwargs):
      round_fn = build_round(*args, **kwargs)
      built.append((round_fn, args[4] if len(args) > 4 else kwargs.get('mesh')))

      def counted(*a, **k):
        # Inputs train() passes that are not yet replicated over the mesh.
        replicated = NamedSharding(built[0][1], P())
        unplaced.append(sum(not (isinstance(x, jax.Array)
                              and x.sharding.is_equivalent_to(replicated, x.ndim))
                         for x in jax.tree.leaves((a, k))))
        return round_fn(*a, **k)

      return counted

    def listener(event, duration, fun_name=None, **kwargs):
      if event == COMPILE_EVENT and fun_name == ROUND_PROGRAM:
        compiles.append(fun_name)

    build_lib.build_round = capture
    monitoring.register_event_duration_secs_listener(listener)
    try:
      train_lib.train(config, log=lambda line: None, progress='none')
    finally:
      monitoring.unregister_event_duration_listener(listener)
      build_lib.build_round = build_round
    (round_fn, mesh), = built
    result[name] = {'devices': jax.device_count(), 'mesh_size': mesh.size if mesh else 1,
                    'rounds': config.rounds, 'calls': len(unplaced),
                    'unplaced_inputs': max(unplaced),
                    'round_compiles': len(compiles), 'cache_size': round_fn._cache_size()}
  print(json.dumps(result))


if __name__ == '__main__':
  _mesh_main()
