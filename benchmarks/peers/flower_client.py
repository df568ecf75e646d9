"""Flower ClientApp of the benchmark (imported by the Ray actors of Flower's
simulation engine): the workload's PyTorch model (`torch_models`) trained on
this node's real examples `x[c, :counts[c]]` of the memory-mapped data, with
the local schedule of the run's client sizes (`workloads.schedule`: fixed
steps for `equal`, one epoch with a short last batch for the heavy-tailed
sizes); it reports `num-examples` = its size, so Flower's FedAvg weights the
clients by their examples."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

import torch_models
import workloads as wl

app = ClientApp()


@functools.lru_cache(maxsize=None)
def _data(directory: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  return tuple(np.load(os.path.join(directory, f'{key}.npy'), mmap_mode='r')
               for key in ('x', 'y', 'counts'))


@functools.lru_cache(maxsize=None)
def _model(workload: str) -> nn.Module:
  return torch_models.build_model(workload)


@app.train()
def train(msg: Message, context: Context) -> Message:
  config = msg.content['config']
  workload, directory = str(config['workload']), str(config['data_dir'])
  plan = wl.schedule(str(config['sizes']))
  client = int(context.node_config['partition-id'])
  x, y, counts = _data(directory)
  n = int(counts[client])
  model = _model(workload)
  model.load_state_dict(msg.content['arrays'].to_torch_state_dict())
  # Each client and round its own shuffles.
  generator = torch.Generator().manual_seed(int(config['server-round']) * 1_000_003 + client)
  # Copies: the memory-mapped file is read-only, and torch wants writable arrays.
  torch_models.train_client(model, np.array(x[client, :n]), np.array(y[client, :n]), plan,
                            generator)
  return Message(RecordDict({'arrays': ArrayRecord(model.state_dict()),
                             'metrics': MetricRecord({'num-examples': n})}),
                 reply_to=msg)
