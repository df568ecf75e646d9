"""PyTorch's local SGD step of a workload, timed on request (`core_ceiling.py`).

Runs in the pfl environment (the PyTorch that pfl and Flower use), with one
torch thread. Reads a number of steps per line on stdin, runs that many
steps of `torch_models`' model on one batch (zero_grad, forward, backward,
SGD step: what `train_client` runs per batch) and prints their seconds.

  python torch_step.py --workload=cnn --batch=20
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

# The parent's Ctrl-C reaches its whole group and the parent reports it; this
# child ends silently, even while it imports torch (which takes seconds).
signal.signal(signal.SIGINT, signal.SIG_DFL)

import torch  # noqa: E402

import torch_models as tm
import workloads as wl


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--workload', required=True, choices=wl.WORKLOADS)
  parser.add_argument('--batch', type=int, required=True)
  args = parser.parse_args()
  torch.set_num_threads(1)
  torch.manual_seed(0)
  model = tm.build_model(args.workload)
  shape, classes = wl.SHAPES[args.workload]
  if args.workload == 'lstm':
    x = torch.randint(1, wl.VOCAB - 3, (args.batch,) + shape)
  else:
    x = torch.randn((args.batch,) + shape)
  y = torch.randint(0, classes, (args.batch,) + wl.LABEL_SHAPES.get(args.workload, ()))
  optimizer = torch.optim.SGD(model.parameters(), lr=wl.LR)
  model.train()

  def steps(n: int) -> None:
    for _ in range(n):
      optimizer.zero_grad()
      tm.loss_fn(model(x), y).backward()
      optimizer.step()

  steps(3)
  print(f'ready {torch.__version__}', flush=True)
  for line in sys.stdin:
    start = time.perf_counter()
    steps(int(line))
    print(time.perf_counter() - start, flush=True)


if __name__ == '__main__':
  main()
