"""The workloads' models in PyTorch (for the PyTorch peers, Flower and pfl):
the same layers and parameter counts as `workloads.NUM_PARAMS`, and the
local SGD of one client as a PyTorch user writes it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import workloads as wl


class CharLSTM(nn.Module):
  """Embedding 8 - LSTM 256 - tanh - LSTM 256 - tanh - dense(VOCAB) at every
  position (FedJAX's Shakespeare model; `nn.LSTM`, PyTorch's fused LSTM)."""

  def __init__(self):
    super().__init__()
    self.embed = nn.Embedding(wl.VOCAB, 8)
    self.lstm1 = nn.LSTM(8, 256, batch_first=True)
    self.lstm2 = nn.LSTM(256, 256, batch_first=True)
    self.out = nn.Linear(256, wl.VOCAB)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = torch.tanh(self.lstm1(self.embed(x))[0])
    return self.out(torch.tanh(self.lstm2(h)[0]))


class NCHW(nn.Module):
  """NHWC images (as the workloads store them) to PyTorch's NCHW."""

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def build_model(workload: str) -> nn.Module:
  """PyTorch twin of the workload's model."""
  wl.check_workload(workload)
  shape, classes = wl.SHAPES[workload]
  if workload == 'logistic':
    return nn.Linear(shape[0], classes)
  if workload == 'mlp':
    return nn.Sequential(nn.Linear(shape[0], 200), nn.ReLU(), nn.Linear(200, classes))
  if workload == 'lstm':
    return CharLSTM()
  return nn.Sequential(
      NCHW(), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
      nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
      nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, classes))


def num_params(model: nn.Module) -> int:
  """Trainable parameters, an LSTM's two biases (`bias_ih`, `bias_hh`, which
  only ever act as their sum) counted once, as in JAX's LSTMs."""
  return sum(p.numel() for name, p in model.named_parameters()
             if not name.split('.')[-1].startswith('bias_hh'))


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
  """Mean cross-entropy over the batch's examples (and positions)."""
  return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def train_client(model: nn.Module, x: np.ndarray, y: np.ndarray, plan: wl.Schedule,
                 generator: torch.Generator) -> int:
  """Local SGD on one client's examples `x`, `y` (its real ones): `plan.steps`
  batches drawn from repeated shuffles, or `plan.epochs` shuffled passes with
  a short last batch; returns the steps run."""
  inputs, labels = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(
      np.ascontiguousarray(y)).long()
  n = len(labels)
  passes = plan.epochs or -(-plan.steps * plan.batch // n)
  order = torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])
  batches = (list(order[:plan.steps * plan.batch].split(plan.batch)) if plan.steps else
             [b for p in order.split(n) for b in p.split(plan.batch)])
  optimizer = torch.optim.SGD(model.parameters(), lr=wl.LR)
  model.train()
  for batch in batches:
    optimizer.zero_grad()
    loss_fn(model(inputs[batch]), labels[batch]).backward()
    optimizer.step()
  return len(batches)
