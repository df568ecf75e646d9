"""Evaluation on a sampled fraction of clients' held-out data (Flower's
`fraction_evaluate`).

With `client_eval_fraction` f > 0, each evaluation samples ceil(f x clients)
clients, a function of (seed, round) only, and tests the global model on the
part of their data they hold out from training
(`personalization.client_test_fraction`; `fedjax_sim.data.client_split`).
It reports `sampled_clients_test_loss` and `sampled_clients_test_accuracy`,
weighted by the sampled clients' held-out examples, as Flower's weighted
average of client evaluations is.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import numpy as np

from fedjax_sim.core import refusals
from fedjax_sim.data.client_split import ClientSplit
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.evaluation.metrics import client_sums
from fedjax_sim.models.model import Model

Evaluator = Callable[[Any, int], dict[str, float]]


def sampled_ids(seed: int, round_index: int, num_clients: int, num: int) -> np.ndarray:
  """The sorted ids of the `num` clients evaluated after round `round_index`."""
  rng = np.random.default_rng((seed, round_index))
  return np.sort(rng.choice(num_clients, num, replace=False))


def held_out_metrics(model: Model, params: Any, held_out: FederatedData,
                     ids: np.ndarray) -> dict[str, float]:
  """Loss and accuracy of `params` over the held-out examples of clients `ids`."""
  subset = FederatedData({k: v[ids] for k, v in held_out.examples.items()},
                         held_out.counts[ids])
  sums = np.asarray(client_sums(model, params, subset), np.float64).sum(0)
  return {'sampled_clients_test_loss': float(sums[0] / max(sums[-1], 1)),
          'sampled_clients_test_accuracy': float(sums[1] / max(sums[2], 1))}


def held_out_evaluator(fraction: float, seed: int, model: Model,
                       parts: ClientSplit | None) -> Evaluator | None:
  """`evaluator(params, round_index) -> evals` on a seeded `fraction` of the
  clients' held-out parts (`parts`, `personalization.split`) when `fraction`
  > 0 (`client_eval_fraction`), else None."""
  if not fraction:
    return None
  if parts is None:
    raise refusals.CLIENT_EVAL_HELD_OUT.error(0.)
  held_out = FederatedData(jax.device_put(parts.test.examples), np.asarray(parts.test.counts))
  num_clients = held_out.num_clients
  num = min(num_clients, math.ceil(fraction * num_clients))

  def evaluator(params: Any, round_index: int) -> dict[str, float]:
    ids = sampled_ids(seed, round_index, num_clients, num)
    return held_out_metrics(model, params, held_out, ids)

  return evaluator
