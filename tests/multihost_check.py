"""Run by test_multihost: `python multihost_check.py PROCESS_ID NUM_PROCESSES PORT`.

Trains a few FedAvg rounds on digits, sharding the sampled clients over every
device of every process (NUM_PROCESSES > 1: jax.distributed on loopback), or
on one process without a mesh (NUM_PROCESSES = 1). Process 0 prints the final
parameters' leaves as JSON.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import default  # noqa: E402
from fedjax_sim import distributed  # noqa: E402
from fedjax_sim.core import build_round, init_state  # noqa: E402
from fedjax_sim.core.sharding import client_mesh  # noqa: E402
from fedjax_sim.data.batching import plan_batches  # noqa: E402
from fedjax_sim.config.experiment import build_experiment  # noqa: E402
from fedjax_sim.run.schedule import sample_and_round_keys  # noqa: E402


def main(process_id: int, num_processes: int, port: int) -> None:
  if num_processes > 1:
    distributed.initialize(f'127.0.0.1:{port}', num_processes, process_id)
  config = default.get_config()
  config.clients_per_round = 7  # not a multiple of the device count
  exp = build_experiment(config)
  plan = plan_batches(exp.dataset.train.max_examples, config.client.batch_size,
                      config.client.epochs)
  mesh = client_mesh() if num_processes > 1 else None
  round_fn = build_round(exp.algorithm, plan, 'vmap', 1, mesh)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  state = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  data = exp.dataset.train
  place = (lambda tree: distributed.replicate(tree, mesh)) if mesh else jax.device_put
  state, data = place(state), place(data)
  for r in range(4):
    sample_key, round_key = sample_and_round_keys(config.seed, r)
    ids = exp.sample_fn(sample_key)
    state, metrics = round_fn(state, data, place(ids), place(round_key))
  leaves = [np.asarray(a).ravel().tolist() for a in jax.tree.leaves(state.server.params)]
  if process_id == 0:
    print(json.dumps({'devices': jax.device_count(), 'leaves': leaves,
                      'loss': float(metrics['train_loss'])}))


if __name__ == '__main__':
  main(*map(int, sys.argv[1:]))
