"""The centralized baseline (`centralized=True`): the same experiment (model,
optimizers, rounds, evaluation) on all training data pooled into one client,
given the federated run's budget: each round trains on as many examples as
the sampled clients would in expectation, so the cost of federation shows as
the gap between the two runs."""

from __future__ import annotations

import ml_collections
import numpy as np

from fedjax_sim.data.client_split import local_test_counts
from fedjax_sim.data.federated_data import FederatedData, pooled


def federated_examples_per_round(counts: np.ndarray, clients_per_round: int,
                                 batch_size: int, epochs: int, steps: int) -> float:
  """Examples a federated round trains on, in expectation over uniformly
  sampled clients: `clients_per_round` x the mean over clients of `epochs`
  passes over their data (or `steps` full batches)."""
  counts = np.asarray(counts, np.int64)
  per_client = np.where(counts > 0, steps * batch_size, 0) if steps else epochs * counts
  return clients_per_round * float(per_client.mean())


def baseline(config: ml_collections.ConfigDict, data: FederatedData
             ) -> tuple[ml_collections.ConfigDict, FederatedData, str]:
  """`(config, data, description)` of the centralized baseline of `config`
  on the clients `data`: one client holding every example, sampled every
  round, training the federated run's expected steps per round."""
  counts = np.asarray(data.counts)
  test_fraction = config.get('personalization', {}).get('client_test_fraction', 0.)
  if test_fraction:  # federated clients train on what they do not hold out
    counts = counts - local_test_counts(counts, test_fraction)
  client = config.client
  examples = federated_examples_per_round(counts, config.clients_per_round,
                                          client.batch_size, client.epochs, client.steps)
  steps = max(1, round(examples / client.batch_size))
  central = config.copy_and_resolve_references()
  central.clients_per_round = 1
  central.client.steps = steps
  description = (f'centralized: {int(np.sum(data.counts))} examples pooled into one client; '
                 f'{steps} steps of batch {client.batch_size} per round (the '
                 f'{examples:.0f} examples {config.clients_per_round} of '
                 f'{data.num_clients} clients train on)')
  return central, pooled(data), description
