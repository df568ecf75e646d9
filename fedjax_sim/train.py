"""Run a federated experiment described by an ml_collections config."""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.round import RoundFn, build_round
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.federated_data import validate
from fedjax_sim.data.registry import Dataset, load_dataset
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation import evaluate, evaluate_clients
from fedjax_sim.models.model import Model
from fedjax_sim.models.registry import get_model
from fedjax_sim.optimizers import make_optimizer

ALGORITHMS = ('fedavg',)


class Experiment(NamedTuple):
  """Everything a run needs, built from a config."""

  dataset: Dataset
  model: Model
  algorithm: FederatedAlgorithm
  round_fn: RoundFn
  sample_fn: Callable[[jax.Array], jax.Array]


def _positive_int(config: ml_collections.ConfigDict, field: str) -> int:
  value = config
  for part in field.split('.'):
    value = value[part]
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f'{field} must be an integer >= 1, got {value!r}')
  return value


def build_experiment(config: ml_collections.ConfigDict) -> Experiment:
  """Validates `config` and builds data, model, algorithm and round program."""
  for field in ('rounds', 'clients_per_round', 'eval_every', 'client.batch_size',
                'client.epochs', 'engine.chunk_size'):
    _positive_int(config, field)
  if config.client.steps < 0:
    raise ConfigError(f'client.steps must be >= 0 (0: use client.epochs), '
                      f'got {config.client.steps}')
  if config.algorithm not in ALGORITHMS:
    raise ConfigError(f'algorithm must be one of {list(ALGORITHMS)}, '
                      f'got {config.algorithm!r}')
  dataset = load_dataset(config.data, config.seed)
  validate(dataset.train, f'data {config.data.name!r}', dataset.num_classes)
  num_clients = dataset.train.num_clients
  if config.clients_per_round > num_clients:
    raise ConfigError(f'clients_per_round={config.clients_per_round} exceeds '
                      f'data.num_clients={num_clients}')
  model = get_model(config.model.name, dataset.num_classes,
                    config.model.get('options', {}))
  algorithm = fedavg(model, make_optimizer(config.client.optimizer, 'client.optimizer'),
                     make_optimizer(config.server.optimizer, 'server.optimizer'),
                     config.get('weighting', 'num_examples'))
  plan = plan_batches(dataset.train.max_examples, config.client.batch_size,
                      config.client.epochs, config.client.steps)
  round_fn = build_round(algorithm, plan, config.engine.strategy,
                         config.engine.chunk_size)
  sample_fn = jax.jit(lambda key: sample_clients(key, num_clients,
                                                 config.clients_per_round))
  return Experiment(dataset, model, algorithm, round_fn, sample_fn)


def round_keys(seed: int, round_index: int) -> tuple[jax.Array, jax.Array]:
  """`(sample_key, round_key)` of a round; a function of seed and index only."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), round_index + 1)
  return tuple(jax.random.split(key))


def evaluate_state(exp: Experiment, params: Any) -> dict[str, float]:
  """Centralized test metrics plus average client metrics on training data."""
  test = evaluate(exp.model, params, exp.dataset.test)
  clients = evaluate_clients(exp.model, params, exp.dataset.train)
  return {k: float(v) for k, v in {**test, **clients}.items()}


def train(config: ml_collections.ConfigDict,
          log: Callable[[str], None] = print) -> list[dict[str, float]]:
  """Runs `config.rounds` rounds; evaluates every `config.eval_every` rounds
  and after the last one. Returns the evaluation history."""
  exp = build_experiment(config)
  data = jax.device_put(exp.dataset.train)
  sample = exp.dataset.test['x'][:1]
  params = exp.model.init(jax.random.PRNGKey(config.seed), jnp.asarray(sample))
  state = exp.algorithm.init(params)
  history = []
  start, last_round = time.perf_counter(), 0
  for r in range(config.rounds):
    sample_key, round_key = round_keys(config.seed, r)
    state, metrics = exp.round_fn(state, data, exp.sample_fn(sample_key), round_key)
    if (r + 1) % config.eval_every == 0 or r + 1 == config.rounds:
      evals = evaluate_state(exp, state.params)
      now = time.perf_counter()
      evals.update(round=r + 1, train_loss=float(metrics['train_loss']),
                   rounds_per_sec=(r + 1 - last_round) / (now - start))
      start, last_round = now, r + 1
      history.append(evals)
      log(f"round {r + 1:5d}  test_accuracy {evals['accuracy']:.4f}  "
          f"test_loss {evals['loss']:.4f}  train_loss {evals['train_loss']:.4f}  "
          f"client_accuracy {evals['client_accuracy']:.4f}  "
          f"rounds/s {evals['rounds_per_sec']:.1f}")
  return history
