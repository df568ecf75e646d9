"""Byzantine clients: a fixed, seeded set of malicious clients and what they do.

Kinds (`config.attack.kind`, magnitude `config.attack.scale` s > 0):
  'sign_flip': a malicious client sends `-s * update` instead of its honest
    update (the sign-flipping attack; s = 1 is a plain flip, s > 1 a boosted
    one that can outweigh the honest clients in a mean).
  'scale': a malicious client sends `s * update` (boosting, as in model
    replacement).
  'label_flip': data poisoning; each malicious client's training labels become
    `num_classes - 1 - y`, once, before training. The test set is untouched
    (client metrics on training data are measured on the poisoned labels).
The malicious set is `round(fraction * num_clients)` clients drawn without
replacement from a generator seeded with `config.seed`. Every kind adds a client
metric `malicious` (1 or 0): the round's weighted mean is the malicious share
of the total weight, `metrics['clients']['malicious'].sum()` the number of
malicious clients sampled.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.registry import Dataset
from fedjax_sim.errors import ConfigError
from fedjax_sim.core.rules import check, is_number

ATTACKS = ('sign_flip', 'scale', 'label_flip')
KINDS = ('none',) + ATTACKS
UPDATE_SIGNS = {'sign_flip': -1., 'scale': 1.}  # attacks that rewrite the update


class Settings(NamedTuple):
  """`config.attack`: `kind` (see above), the malicious `fraction` of the
  clients, and the magnitude `scale` s > 0."""

  kind: str = 'none'
  fraction: float = 0.
  scale: float = 1.


def malicious_clients(num_clients: int, fraction: float, seed: int) -> np.ndarray:
  """bool `[num_clients]`: a seeded set of `round(fraction * num_clients)`."""
  chosen = np.random.default_rng(seed).permutation(num_clients)
  is_malicious = np.zeros(num_clients, bool)
  is_malicious[chosen[:round(fraction * num_clients)]] = True
  return is_malicious


def flip_labels(data: FederatedData, is_malicious: np.ndarray,
                num_classes: int) -> FederatedData:
  """`y -> num_classes - 1 - y` on the real examples of malicious clients."""
  y = np.asarray(data.examples['y'])
  rows = np.arange(data.max_examples)[None, :] < np.asarray(data.counts)[:, None]
  flip = rows & np.asarray(is_malicious)[:, None]
  flipped = np.where(flip, num_classes - 1 - y, y).astype(y.dtype)
  return data._replace(examples={**data.examples, 'y': flipped})


def with_attack(algorithm: FederatedAlgorithm, kind: str, is_malicious,
                scale: float = 1.) -> FederatedAlgorithm:
  """`algorithm` whose malicious clients (by `batches.client_id`) attack.

  'sign_flip' and 'scale' rewrite the malicious clients' updates (every leaf
  of more than one element: a one-element leaf is a flag or count the server
  divides by, such as SCAFFOLD's `trained`, and stays honest); for
  'label_flip' (poisoned data, see `flip_labels`) only the metric is added.
  """
  if kind not in ATTACKS:
    raise ConfigError(f'attack.kind must be one of {list(ATTACKS)}, got {kind!r}')
  flags = jnp.asarray(is_malicious, bool)
  factor = UPDATE_SIGNS[kind] * scale if kind in UPDATE_SIGNS else None

  def client_update(server_state, client_state, batches: ClientBatches,
                    key: jax.Array) -> ClientResult:
    result = algorithm.client_update(server_state, client_state, batches, key)
    malicious = flags[batches.client_id]
    update = result.update
    if factor is not None:  # one-element leaves are flags and counts (SCAFFOLD's `trained`)
      update = jax.tree.map(
          lambda u: u if u.size == 1 else jnp.where(malicious, factor * u, u), update)
    metrics = {**result.metrics, 'malicious': malicious.astype(jnp.float32)}
    return result._replace(update=update, metrics=metrics)

  return algorithm._replace(client_update=client_update)


def apply_attack(settings: Settings, seed: int, algorithm: FederatedAlgorithm,
                 dataset: Dataset) -> tuple[FederatedAlgorithm, Dataset]:
  """The attack `settings` describe (malicious clients drawn with `seed`),
  applied to the algorithm and the training data (unchanged for 'none')."""
  check('attack', settings, [
      ('kind', lambda v: v in KINDS, f'one of {list(KINDS)}'),
      ('fraction', lambda v: is_number(v) and 0. <= v <= 1., 'in [0, 1]'),
      ('scale', lambda v: is_number(v) and v > 0., '> 0')])
  if settings.kind == 'none':
    return algorithm, dataset
  is_malicious = malicious_clients(dataset.train.num_clients, settings.fraction, seed)
  if settings.kind == 'label_flip':
    dataset = dataset._replace(
        train=flip_labels(dataset.train, is_malicious, dataset.num_classes))
  return with_attack(algorithm, settings.kind, is_malicious, settings.scale), dataset
