"""Worker for Flower's simulation engine (`benchmarks/peers/setup_flower.sh`
makes its environment): `flwr.simulation.run_simulation` with one virtual
SuperNode per client, Ray actors of one CPU each, and Flower's FedAvg
strategy sampling every node each round, weighted by each node's examples
(`flower_client.py` trains them, on any `workloads.SIZES`).

Flower's server loop drives the rounds, so the timing lives in the strategy:
`configure_train` waits for the `round` command and `aggregate_train` reports
the round's time; the first round is the untimed warm-up.

  benchmarks/.venvs/flower/bin/python benchmarks/peers/flower_worker.py --workload=mlp --clients=100 --rounds=3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [HERE, os.environ.get('PYTHONPATH')]))

import protocol  # noqa: E402
import workloads as wl  # noqa: E402


def make_strategy(out, clients: int, info: dict):
  from flwr.serverapp.strategy import FedAvg

  class TimedFedAvg(FedAvg):
    """FedAvg over all nodes, paced and timed by the benchmark protocol."""

    def configure_train(self, server_round, arrays, config, grid):
      if server_round == 1:
        self._start = time.perf_counter()
      else:
        line = sys.stdin.readline().strip()
        if line != 'round':
          os._exit(0)  # `quit` or end of input: stop the simulation now
        self._start = time.perf_counter()
      return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
      replies = list(replies)
      if len(replies) != clients or any(r.has_error() for r in replies):
        raise RuntimeError(f'round {server_round}: {len(replies)} of {clients} replies')
      result = super().aggregate_train(server_round, replies)
      seconds = time.perf_counter() - self._start
      if server_round == 1:
        protocol.emit(out, 'ready', info)
      else:
        protocol.emit(out, 'round', {'seconds': seconds})
      return result

  return TimedFedAvg(fraction_train=1.0, fraction_evaluate=0.0,
                     min_train_nodes=clients, min_available_nodes=clients)


def main() -> None:
  parser = protocol.worker_parser(dump_params=False)
  parser.add_argument('--rounds', type=int, required=True, help='Timed rounds.')
  parser.add_argument('--report_loss', action='store_true',
                      help='after each round, log the server model\'s mean training loss '
                      'over every client\'s examples to stderr (a check that it trains; '
                      'outside the timed span)')
  args = protocol.parse_worker_args(parser)
  out = protocol.claim_stdout()
  with tempfile.TemporaryDirectory(prefix='flower_bench_') as data_dir:
    simulate(args, out, wl.save_data(args.workload, args.clients, data_dir,
                                     sizes=args.sizes))


def simulate(args: argparse.Namespace, out, data_dir: str) -> None:
  """Runs Flower's simulation of `1 + args.rounds` rounds."""
  import flwr
  import numpy as np
  import torch
  from flwr.app import ArrayRecord, ConfigRecord
  from flwr.serverapp import ServerApp
  from flwr.simulation import run_simulation
  import torch_models
  from flower_client import app as client_app

  model = torch_models.build_model(args.workload)
  info = {'num_params': torch_models.num_params(model),
          'version': f'flwr {flwr.__version__}, torch {torch.__version__}'}
  server_app = ServerApp()

  def training_loss(server_round, arrays):
    """Example-weighted mean loss of the server model on all clients' examples."""
    x, y, counts = (np.load(os.path.join(data_dir, f'{k}.npy')) for k in ('x', 'y', 'counts'))
    probe = torch_models.build_model(args.workload)
    probe.load_state_dict(arrays.to_torch_state_dict())
    probe.eval()
    with torch.no_grad():
      total = sum(float(torch_models.loss_fn(probe(torch.from_numpy(x[c, :n])),
                                             torch.from_numpy(y[c, :n]).long())) * n
                  for c, n in enumerate(counts))
    print(f'train loss after round {server_round}: {total / counts.sum():.5f}',
          file=sys.stderr, flush=True)

  @server_app.main()
  def _(grid, context):
    make_strategy(out, args.clients, info).start(
        grid=grid, initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=1 + args.rounds,
        evaluate_fn=training_loss if args.report_loss else None,
        train_config=ConfigRecord({'workload': args.workload, 'data_dir': data_dir,
                                   'sizes': args.sizes}))

  run_simulation(server_app=server_app, client_app=client_app,
                 num_supernodes=args.clients,
                 backend_config={'client_resources': {'num_cpus': 1, 'num_gpus': 0.}})


if __name__ == '__main__':
  main()
