"""Flower ClientApp of the benchmark (imported by the Ray actors of Flower's
simulation engine): the workload's model in PyTorch, `STEPS` SGD steps of
batch `BATCH` on this node's shard of the memory-mapped data."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

import workloads as wl

app = ClientApp()


def build_model(workload: str) -> nn.Module:
  """PyTorch twin of the workload's model (same layers and parameter count)."""
  shape, classes = wl.SHAPES[workload]
  if workload == 'logistic':
    return nn.Linear(shape[0], classes)
  if workload == 'mlp':
    return nn.Sequential(nn.Linear(shape[0], 200), nn.ReLU(), nn.Linear(200, classes))
  return nn.Sequential(
      nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
      nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
      nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, classes))


@functools.lru_cache(maxsize=None)
def _data(directory: str) -> tuple[np.ndarray, np.ndarray]:
  return (np.load(os.path.join(directory, 'x.npy'), mmap_mode='r'),
          np.load(os.path.join(directory, 'y.npy'), mmap_mode='r'))


@functools.lru_cache(maxsize=None)
def _model(workload: str) -> nn.Module:
  return build_model(workload)


@app.train()
def train(msg: Message, context: Context) -> Message:
  config = msg.content['config']
  workload, directory = str(config['workload']), str(config['data_dir'])
  client = int(context.node_config['partition-id'])
  x, y = _data(directory)
  inputs = torch.from_numpy(np.array(x[client]))
  if workload == 'cnn':  # NHWC on disk, NCHW for torch
    inputs = inputs.permute(0, 3, 1, 2)
  labels = torch.from_numpy(np.array(y[client])).long()
  model = _model(workload)
  model.load_state_dict(msg.content['arrays'].to_torch_state_dict())
  model.train()
  optimizer = torch.optim.SGD(model.parameters(), lr=wl.LR)
  order = torch.randperm(wl.EXAMPLES)
  for step in range(wl.STEPS):
    batch = order[step * wl.BATCH:(step + 1) * wl.BATCH]
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
    optimizer.step()
  return Message(RecordDict({'arrays': ArrayRecord(model.state_dict()),
                             'metrics': MetricRecord({'num-examples': wl.EXAMPLES})}),
                 reply_to=msg)
