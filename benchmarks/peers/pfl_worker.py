"""Worker for Apple's pfl-research (`pfl` 0.6.0; `bash benchmarks/peers/setup_venv.sh
pfl` makes its environment): pfl's in-process simulation with the PyTorch
backend, `FederatedAveraging.run` on a `SimulatedBackend` over a
`FederatedDataset` whose `minimize_reuse` user sampler cycles through the
clients in order, so a cohort of `clients` users is every client once per
round.

- Model: `pfl.model.pytorch.PyTorchModel` around `torch_models.build_model`
  (loss: `torch_models.loss_fn`, mean cross-entropy), local optimizer
  `torch.optim.SGD` (pfl sets its learning rate to `local_learning_rate =
  workloads.LR`), central optimizer `torch.optim.SGD(lr=1)`: pfl applies the
  averaged model difference as a negative gradient, so the new server model
  is the weighted average of the client models.
- Aggregation: pfl's `SumAggregator` with the `WeightByDatapoints`
  postprocessor, then `statistics.average()` (FedAvg weighted by example
  count).
- Local schedule (`workloads.schedule`): pfl's `Dataset.iter` slices a user's
  data in stored order and never shuffles, and `local_num_epochs` batches each
  epoch apart (a short last batch per epoch). So each user's `Dataset` is made
  (when pfl samples the user, each round) as `passes` freshly shuffled passes
  over its real examples, concatenated, and pfl runs one epoch of it with
  `local_batch_size = batch` (`local_num_steps = steps` for fixed steps): the
  batches FedJAX's `ShuffleRepeatBatchHParams` and fedjax_sim draw (a short
  last batch only at the end of the last pass). `passes` is the schedule's
  `epochs`, or ceil(steps * batch / size) for fixed steps, the same for every
  client of every `workloads.SIZES` setting (fixed steps run on `equal` sizes
  only), so pfl's weight `len(dataset) = passes * size` is proportional to
  the example count and the weighted average is FedAvg's.
- Evaluation: pfl evaluates every user before and after training in central
  iterations divisible by `evaluation_frequency`; it is set past the last
  round, so only the untimed warm-up round (iteration 0) evaluates.
- No torch.compile, no mixed precision, PyTorch on the CPU (pfl's default
  device without a GPU; `PFL_PYTORCH_DEVICE` overrides it).
- Threads: `torch.set_num_threads(THREADS)`, 1. Measured on the 2-core CPU
  (3 interleaved timed rounds each, medians): with other jobs running (load
  average 7 to 14, 100 clients, equal sizes, client-steps/s)
    mlp:      1 thread 308 (3.25 s a round), 2 threads 11 (88 s a round)
    logistic: 1 thread 577 (1.73 s a round), 2 threads 29 (35 s a round)
  and at a load average of 1.4 to 6 (round seconds)
    mlp, equal, 100 clients:  1 thread 0.94 s, 2 threads 15.0 s
    cnn, emnist, 10 clients:  1 thread 6.32 s, 2 threads 25.4 s
  so 1 thread is by far the faster here (`--threads` overrides it). pfl's other
  speed-up, distributed simulation over several worker processes
  (`PFL_WORKER_RANK`, `PFL_WORKER_ADDRESSES`), is not used: the benchmark
  times one process per system, and the machine has 2 cores.

pfl's `run` drives the round loop itself, so the rounds are paced and timed
from a `TrainingProcessCallback`: iteration 0 is the untimed warm-up (then
`ready`); after it each `round` command lets one untimed and one timed
central iteration run (`protocol.serve`'s contract); a timed round is
everything from the end of the previous iteration's callbacks to the end of
its own aggregation and model update (sampling, local training, weighting,
summing, averaging).

  benchmarks/.venvs/pfl/bin/python benchmarks/peers/pfl_worker.py --workload=mlp --clients=100

With `--dump_params=PATH` it instead runs one round from
`workloads.initial_params` and writes the new server parameters to PATH
(`.npz`, named as `initial_params` names them; a `torch.nn.Linear` weight is
`[out, in]`, so kernels are transposed), to check systems against each other
(`tests/test_peer_equivalence.py`).
"""

from __future__ import annotations

import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import protocol  # noqa: E402
import workloads as wl  # noqa: E402

THREADS = 1
# Far more rounds than a benchmark runs: the `round` commands end the run.
MAX_ROUNDS = 10 ** 9


def pfl_module(workload: str):
  """The workload's PyTorch model with the `loss` and `metrics` methods that
  pfl's `PyTorchModel` calls."""
  import torch
  from pfl.metrics import Weighted

  import torch_models

  class Module(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.net = torch_models.build_model(workload)

    def forward(self, x):
      return self.net(x)

    def loss(self, x, y):
      self.train()
      return torch_models.loss_fn(self(x), y)

    @torch.no_grad()
    def metrics(self, x, y):
      self.eval()
      loss = torch_models.loss_fn(self(x), y).item()
      return {'loss': Weighted(loss * len(y), len(y))}

  return Module()


def linear_layers(module):
  """The `torch.nn.Linear` layers of a dense-only workload, input to output."""
  import torch
  return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def load_shared(module, arrays) -> None:
  """Sets the model to `workloads.initial_params` arrays."""
  import torch
  layers = linear_layers(module)
  if len(layers) != len(arrays) // 2:
    raise ValueError(f'{len(arrays)} arrays for {len(layers)} dense layers')
  with torch.no_grad():
    for i, layer in enumerate(layers):
      kernel, bias = arrays[f'dense{i}/kernel'], arrays[f'dense{i}/bias']
      if tuple(layer.weight.shape) != kernel.T.shape or tuple(layer.bias.shape) != bias.shape:
        raise ValueError(f'dense{i}: {kernel.shape}, {bias.shape} do not fit {layer}')
      layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
      layer.bias.copy_(torch.from_numpy(bias))


def to_shared(module):
  """The model's parameters named as `workloads.initial_params` names them."""
  out = {}
  for i, layer in enumerate(linear_layers(module)):
    out[f'dense{i}/kernel'] = layer.weight.detach().cpu().numpy().T.copy()
    out[f'dense{i}/bias'] = layer.bias.detach().cpu().numpy().copy()
  return out


def federated_data(workload: str, clients: int, sizes: str, seed: int = 0):
  """pfl's `FederatedDataset` of the workload's clients (see the module
  docstring for how a user's `Dataset` holds its shuffled passes)."""
  import numpy as np
  import torch
  from pfl.data.dataset import Dataset
  from pfl.data.federated_dataset import FederatedDataset
  from pfl.data.sampling import get_user_sampler

  x, y, counts = wl.make_data(workload, clients, sizes=sizes)
  plan = wl.schedule(sizes)
  xs = [torch.from_numpy(np.ascontiguousarray(x[c, :n])) for c, n in enumerate(counts)]
  ys = [torch.from_numpy(np.ascontiguousarray(y[c, :n])).long() for c, n in enumerate(counts)]
  passes = [plan.epochs or -(-plan.steps * plan.batch // int(n)) for n in counts]
  if len({p for p, n in zip(passes, counts)}) > 1:  # never with workloads.SIZES
    raise ValueError('pfl weights clients by len(dataset): every client must run '
                     'the same number of passes')
  generator = torch.Generator().manual_seed(seed)

  def make_dataset(user_id: int):
    n = len(ys[user_id])
    order = torch.cat([torch.randperm(n, generator=generator)
                       for _ in range(passes[user_id])])
    return Dataset((xs[user_id][order], ys[user_id][order]), user_id=str(user_id))

  return FederatedDataset(make_dataset, get_user_sampler('minimize_reuse', list(range(clients))))


def simulation(workload: str, clients: int, sizes: str, init=None):
  """pfl's pieces for FedAvg over all `clients`, from `init`
  (`workloads.initial_params`) if given: `(algorithm, run kwargs, model)`."""
  import torch
  from pfl.aggregate.simulate import SimulatedBackend
  from pfl.aggregate.weighting import WeightByDatapoints
  from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
  from pfl.hyperparam import NNEvalHyperParams, NNTrainHyperParams
  from pfl.model.pytorch import PyTorchModel

  torch.manual_seed(0)
  module = pfl_module(workload)
  if init is not None:
    load_shared(module, init)
  model = PyTorchModel(model=module, local_optimizer_create=torch.optim.SGD,
                       central_optimizer=torch.optim.SGD(module.parameters(), lr=1.0))
  plan = wl.schedule(sizes)
  backend = SimulatedBackend(training_data=federated_data(workload, clients, sizes),
                             val_data=None, postprocessors=[WeightByDatapoints()])
  run_kwargs = dict(
      algorithm_params=NNAlgorithmParams(
          central_num_iterations=MAX_ROUNDS, evaluation_frequency=MAX_ROUNDS,
          train_cohort_size=clients, val_cohort_size=None),
      backend=backend, model=model,
      model_train_params=NNTrainHyperParams(
          local_learning_rate=wl.LR, local_batch_size=plan.batch,
          local_num_epochs=None if plan.steps else 1, local_num_steps=plan.steps),
      model_eval_params=NNEvalHyperParams(local_batch_size=plan.batch))
  return FederatedAveraging(), run_kwargs, module


def paced_callback(out, info):
  """Paces and times pfl's central iterations by the benchmark protocol."""
  from pfl.callback.base import TrainingProcessCallback
  from pfl.metrics import Metrics

  class Paced(TrainingProcessCallback):

    def __init__(self):
      self._start = 0.
      self._timed = False

    def after_central_iteration(self, aggregate_metrics, model, *, central_iteration):
      if central_iteration == 0:
        protocol.emit(out, 'ready', info)
      elif self._timed:
        protocol.emit(out, 'round', {'seconds': time.perf_counter() - self._start})
      self._timed = central_iteration > 0 and not self._timed
      if not self._timed:  # next: an untimed round, once asked for
        line = sys.stdin.readline().strip()
        if line != 'round':  # `quit` or end of input
          return True, Metrics()
      self._start = time.perf_counter()
      return False, Metrics()

  return Paced()


def main() -> None:
  parser = protocol.worker_parser()
  parser.add_argument('--threads', type=int, default=THREADS,
                      help='torch.set_num_threads (intra-op threads)')
  args = protocol.parse_worker_args(parser)
  out = protocol.claim_stdout()
  logging.getLogger('pfl').setLevel(logging.WARNING)
  import pfl.version
  import torch

  import torch_models
  torch.set_num_threads(args.threads)
  if args.dump_params:
    import numpy as np
    algorithm, run_kwargs, module = simulation(args.workload, args.clients, args.sizes,
                                               wl.initial_params(args.workload))
    run_kwargs['algorithm_params'] = run_kwargs['algorithm_params'].static_clone(
        central_num_iterations=1)
    algorithm.run(**run_kwargs)
    np.savez(args.dump_params, **to_shared(module))
    return
  algorithm, run_kwargs, module = simulation(args.workload, args.clients, args.sizes)
  info = {'num_params': torch_models.num_params(module.net),
          'version': f'pfl {pfl.version.__version__}, torch {torch.__version__}'}
  algorithm.run(**run_kwargs, callbacks=[paced_callback(out, info)])


if __name__ == '__main__':
  main()
