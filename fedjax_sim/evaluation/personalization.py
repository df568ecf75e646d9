"""Personalization evaluation on data each client holds out from training.

With `personalization.client_test_fraction > 0`, every client's examples are
split into a local train part (the only data federated training sees) and a
local test part (`fedjax_sim.data.client_split`). Each evaluation reports

  local_accuracy:        the global model on each client's local test part;
  personalized_accuracy: each client's personalized model on the same part,
    where the personalized model is the client's own model (algorithms with
    a `personal_params` accessor, e.g. Ditto) or else the global model,
    fine-tuned for `finetune_steps` SGD steps on the client's local train part
    (reported when either applies).

Both are unweighted means over clients with local test examples, computed in
one jitted program mapped over clients.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fedjax_sim.core import refusals
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import train_locally
from fedjax_sim.core.round import RoundState
from fedjax_sim.data.batching import BatchPlan, client_stream
from fedjax_sim.data.client_split import ClientSplit, split_clients
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation.metrics import example_sums, summarize_clients
from fedjax_sim.models.model import Model, masked_loss
from fedjax_sim.core.rules import is_int, is_number

# `(round_state, round_index, personal) -> evals`; `personal` is the clients'
# stacked personal models (`FederatedAlgorithm.personal_params`) or None.
Evaluator = Callable[[RoundState, int, Any], dict[str, float]]


class Settings(NamedTuple):
  """The `personalization` section: the `client_test_fraction` of each
  client's examples held out (0: personalization off); `finetune_steps` of
  SGD at `learning_rate` each client fine-tunes the global model for before
  it is evaluated on them (0: none)."""

  client_test_fraction: float = 0.
  finetune_steps: int = 0
  learning_rate: float = 0.05


@functools.partial(jax.jit, static_argnums=(0, 6, 7, 8))
def personalized_sums(model: Model, params: Any, personal: Any,
                      train: FederatedData, test: FederatedData, key: jax.Array,
                      plan: BatchPlan, learning_rate: float,
                      chunk_size: int = 16) -> tuple[jax.Array, jax.Array]:
  """Per-client `example_sums` rows `[clients, 3]` on the local test parts of
  the global `params` and of each client's personalized model: its row of
  `personal` (stacked personal models, or None for the global model),
  fine-tuned for `plan.num_steps` SGD steps on its row of `train`."""
  optimizer = optax.sgd(learning_rate)

  def loss_fn(p, batch, mask, step_key):
    return masked_loss(model, p, batch, mask, step_key)

  def one_client(client_id):
    start = params if personal is None else jax.tree.map(lambda a: a[client_id],
                                                         personal)
    if plan.num_steps:
      batch_key, train_key = jax.random.split(jax.random.fold_in(key, client_id))
      count = train.counts[client_id]
      batches = ClientBatches(train.examples, client_id, count,
                              client_stream(batch_key, count, plan))
      start = train_locally(loss_fn, optimizer, start, batches, train_key).params
    x, y = test.examples['x'][client_id], test.examples['y'][client_id]
    mask = jnp.arange(test.max_examples) < test.counts[client_id]
    return (example_sums(model, params, x, y, mask),
            example_sums(model, start, x, y, mask))

  ids = jnp.arange(train.num_clients, dtype=jnp.int32)
  return jax.lax.map(one_client, ids, batch_size=chunk_size)


def evaluate_personalized(model: Model, params: Any, personal: Any,
                          split: tuple[FederatedData, FederatedData],
                          key: jax.Array, settings: Settings,
                          batch_size: int) -> dict[str, float]:
  """`local_accuracy`, and `personalized_accuracy` when there is a personal
  model or fine-tuning (see module docstring)."""
  plan = BatchPlan(settings.finetune_steps, batch_size, None)
  local, tuned = personalized_sums(model, params, personal, *split, key, plan,
                                   settings.learning_rate)
  evals = {'local_accuracy': float(summarize_clients(local)['accuracy'])}
  if personal is not None or settings.finetune_steps:
    evals['personalized_accuracy'] = float(summarize_clients(tuned)['accuracy'])
  return evals


def check(settings: Settings) -> Settings:
  """`settings`, validated (fields as floats)."""
  fraction, steps, lr = settings
  if not is_number(fraction) or not 0. <= fraction < 1.:
    raise ConfigError('personalization.client_test_fraction must be in [0, 1), '
                      f'got {fraction}')
  if not is_int(steps) or steps < 0:
    raise ConfigError('personalization.finetune_steps must be an integer >= 0, '
                      f'got {steps!r}')
  if steps and not fraction:
    raise refusals.FINETUNE_HELD_OUT.error(fraction)
  if steps and not (is_number(lr) and lr > 0):
    raise ConfigError(f'personalization.learning_rate must be > 0, got {lr}')
  return Settings(float(fraction), steps, float(lr))


def split(settings: Settings, seed: int, data: FederatedData) -> ClientSplit | None:
  """The clients' local train/test parts with `client_test_fraction` > 0, else None."""
  fraction = check(settings).client_test_fraction
  return split_clients(data, fraction, seed) if fraction else None


def personalize(settings: Settings, seed: int, batch_size: int, model: Model,
                data: FederatedData, parts: ClientSplit | None
                ) -> tuple[FederatedData, Evaluator | None]:
  """`(federated training data, evaluator)`: with personalization on
  (`parts` from `split`), the local train parts and
  `evaluator(round_state, round_index, personal) -> evals`; else `data`
  unchanged and None."""
  if parts is None:
    return data, None
  settings = check(settings)
  on_device = jax.device_put(tuple(parts))
  # Stream 0 of the seed: rounds use streams >= 1 (`experiment.sample_and_round_keys`).
  base_key = jax.random.fold_in(jax.random.PRNGKey(seed), 0)

  def evaluator(state: RoundState, round_index: int, personal: Any) -> dict[str, float]:
    return evaluate_personalized(model, state.server.params, personal, on_device,
                                 jax.random.fold_in(base_key, round_index),
                                 settings, batch_size)

  return parts.train, evaluator
