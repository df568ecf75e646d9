"""Partitioners: split a centralized labelled data set into client index lists."""

from __future__ import annotations

import numpy as np

from fedjax_sim.errors import ConfigError


def iid_partition(num_examples: int, num_clients: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
  """Shuffles the examples and deals them into `num_clients` near-equal parts."""
  return [np.sort(part) for part in
          np.array_split(rng.permutation(num_examples), num_clients)]


def dirichlet_partition(labels: np.ndarray, num_clients: int, alpha: float,
                        rng: np.random.Generator) -> list[np.ndarray]:
  """Label skew (Hsu et al. 2019): each class is split across clients by
  proportions drawn from Dirichlet(alpha); small alpha = few classes per client.
  """
  if not alpha > 0:
    raise ConfigError(f'data.alpha must be > 0 for the Dirichlet partition, got {alpha}')
  parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
  for label in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == label))
    shares = rng.dirichlet(np.full(num_clients, alpha))
    cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
    for client, chunk in enumerate(np.split(members, cuts)):
      parts[client].append(chunk)
  return [np.sort(np.concatenate(p)) for p in parts]


def partition(labels: np.ndarray, num_clients: int, method: str, alpha: float,
              rng: np.random.Generator) -> list[np.ndarray]:
  """Dispatches on `method` ('iid' or 'dirichlet')."""
  if method == 'iid':
    return iid_partition(len(labels), num_clients, rng)
  if method == 'dirichlet':
    return dirichlet_partition(labels, num_clients, alpha, rng)
  raise ConfigError(f"data.partition must be 'iid' or 'dirichlet', got {method!r}")
