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


def shards_partition(labels: np.ndarray, num_clients: int, shards_per_client: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
  """Pathological label skew (McMahan et al. 2017): `num_clients * k` shards dealt
  k per client.

  Unlike the paper's sort-and-cut (where a shard may straddle two labels), every
  shard here holds one label: each label gets a number of shards proportional to
  its size (at least one), so a client sees at most `k` labels.
  """
  k = shards_per_client
  if not (isinstance(k, (int, np.integer)) and k >= 1):
    raise ConfigError(f'data.shards_per_client must be an integer >= 1, got {k!r}')
  classes, sizes = np.unique(labels, return_counts=True)
  num_shards = num_clients * k
  if num_shards > len(labels):
    raise ConfigError(
        f'data.shards_per_client={k} is too large: {num_clients} clients x {k} '
        f'shards exceeds the {len(labels)} examples')
  if num_shards < len(classes):
    raise ConfigError(
        f'data.shards_per_client={k} is too small: {num_clients} clients x {k} '
        f'shards cannot hold {len(classes)} labels one label per shard')
  counts = _shards_per_label(sizes, num_shards)
  shards = []
  for label, count in zip(classes, counts):
    members = rng.permutation(np.flatnonzero(labels == label))
    shards.extend(np.array_split(members, count))
  order = rng.permutation(num_shards).reshape(num_clients, k)
  return [np.sort(np.concatenate([shards[s] for s in row])) for row in order]


def _shards_per_label(sizes: np.ndarray, num_shards: int) -> np.ndarray:
  """Splits `num_shards` across labels in proportion to `sizes` (largest
  remainder), each label getting between 1 and its size shards."""
  quota = num_shards * sizes / sizes.sum()
  counts = np.clip(np.floor(quota).astype(int), 1, sizes)
  while counts.sum() < num_shards:
    room = np.where(counts < sizes, quota - counts, -np.inf)
    counts[np.argmax(room)] += 1
  while counts.sum() > num_shards:
    excess = np.where(counts > 1, counts - quota, -np.inf)
    counts[np.argmax(excess)] -= 1
  return counts


def powerlaw_partition(num_examples: int, num_clients: int, sigma: float,
                       rng: np.random.Generator) -> list[np.ndarray]:
  """Quantity skew: client sizes proportional to LogNormal(0, sigma) draws (at
  least one example each, heavy-tailed for sigma >= 1), labels IID."""
  if not sigma >= 0:
    raise ConfigError(f'data.powerlaw_sigma must be >= 0, got {sigma}')
  if num_examples < num_clients:
    raise ConfigError(f'data.num_clients={num_clients} exceeds the {num_examples} '
                      'examples: the power-law partition gives every client one')
  share = rng.lognormal(0., sigma, num_clients)
  quota = (num_examples - num_clients) * share / share.sum()
  sizes = 1 + np.floor(quota).astype(int)
  remainder = num_examples - sizes.sum()
  sizes[np.argsort(np.floor(quota) - quota, kind='stable')[:remainder]] += 1
  cuts = np.cumsum(sizes)[:-1]
  return [np.sort(part) for part in np.split(rng.permutation(num_examples), cuts)]


PARTITIONS = ('iid', 'dirichlet', 'shards', 'powerlaw')


def partition(labels: np.ndarray, num_clients: int, method: str, alpha: float,
              rng: np.random.Generator, shards_per_client: int = 2,
              powerlaw_sigma: float = 1.) -> list[np.ndarray]:
  """Dispatches on `method`, one of `PARTITIONS`."""
  if method == 'iid':
    return iid_partition(len(labels), num_clients, rng)
  if method == 'dirichlet':
    return dirichlet_partition(labels, num_clients, alpha, rng)
  if method == 'shards':
    return shards_partition(labels, num_clients, shards_per_client, rng)
  if method == 'powerlaw':
    return powerlaw_partition(len(labels), num_clients, powerlaw_sigma, rng)
  raise ConfigError(f'data.partition must be one of {list(PARTITIONS)}, got {method!r}')
