"""Worker for FedJAX 0.0.17 (`benchmarks/peers/setup_fedjax.sh` makes its
environment): `fedjax.algorithms.fed_avg.federated_averaging`, which trains
the clients with `fedjax.for_each_client` (one jitted step per batch, a
Python loop over clients and steps) on `ShuffleRepeatBatchHParams` batches.

  benchmarks/.venvs/fedjax/bin/python benchmarks/peers/fedjax_worker.py --workload=mlp --clients=100
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import protocol  # noqa: E402
import workloads as wl  # noqa: E402


def build_model(workload: str):
  """The workload's model as a FedJAX model (the EMNIST CNN is FedJAX's own)."""
  import fedjax
  import haiku as hk
  import jax
  import numpy as np
  if workload == 'cnn':
    return fedjax.models.emnist.create_conv_model(only_digits=False)
  shape, classes = wl.SHAPES[workload]

  def forward_pass(batch):
    layers = [hk.Flatten()] + ([hk.Linear(200), jax.nn.relu] if workload == 'mlp' else [])
    return hk.Sequential(layers + [hk.Linear(classes)])(batch['x'])

  return fedjax.create_model_from_haiku(
      transformed_forward_pass=hk.transform(forward_pass),
      sample_batch={'x': np.zeros((1,) + shape, np.float32), 'y': np.zeros(1, np.int32)},
      train_loss=lambda b, p: fedjax.metrics.unreduced_cross_entropy_loss(b['y'], p))


def fedjax_round(workload: str, clients: int, sizes: str):
  import fedjax
  import jax
  from fedjax.algorithms import fed_avg
  model = build_model(workload)
  x, y, counts = wl.make_data(workload, clients, sizes=sizes)
  datasets = [fedjax.ClientDataset({'x': x[c, :n], 'y': y[c, :n]})
              for c, n in enumerate(counts)]
  plan = wl.schedule(sizes)
  algorithm = fed_avg.federated_averaging(
      grad_fn=fedjax.model_grad(model),
      client_optimizer=fedjax.optimizers.sgd(wl.LR),
      server_optimizer=fedjax.optimizers.sgd(1.),
      client_batch_hparams=fedjax.ShuffleRepeatBatchHParams(
          batch_size=plan.batch, num_epochs=plan.epochs, num_steps=plan.steps))
  params = model.init(jax.random.PRNGKey(0))
  state = [algorithm.init(params), jax.random.PRNGKey(1)]

  def run():
    state[1], key = jax.random.split(state[1])
    keys = jax.random.split(key, clients)
    round_clients = [(c, datasets[c], keys[c]) for c in range(clients)]
    state[0], _ = algorithm.apply(state[0], round_clients)
    jax.block_until_ready(state[0].params)
  return run, params


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--workload', required=True)
  parser.add_argument('--clients', type=int, required=True)
  parser.add_argument('--sizes', default='equal')
  args = parser.parse_args()
  wl.check_workload(args.workload)
  wl.check_sizes(args.sizes)
  out = protocol.claim_stdout()
  import jax
  run, params = fedjax_round(args.workload, args.clients, args.sizes)
  info = {'num_params': sum(a.size for a in jax.tree_util.tree_leaves(params)),
          'version': f'fedjax 0.0.17, jax {jax.__version__}'}
  protocol.serve(run, info, out)


if __name__ == '__main__':
  main()
