"""A run's parts from a config (`fedjax_sim.run.experiment.Experiment`):
data, model, the algorithm with its aggregator, compression, attack and
asynchronous wrapper, the round program, and the schedule, population and
evaluation around it. The runner (`fedjax_sim.run`) reads no config."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from fedjax_sim.cli import to_stderr
from fedjax_sim import compression, privacy
from fedjax_sim.behaviour import attacks
from fedjax_sim.behaviour import fedbuff
from fedjax_sim.evaluation import held_out as federated_eval
from fedjax_sim.evaluation import personalization
from fedjax_sim.core import refusals
from fedjax_sim.aggregators.dp import dp_options
from fedjax_sim.config import behaviour as behaviour_lib
from fedjax_sim.config import centralized
from fedjax_sim.config.algorithms import (aggregator_settings, build_aggregator,
                                          build_algorithm, clients_per_update)
from fedjax_sim.config.checks import check_config
from fedjax_sim.config.data import load_data
from fedjax_sim.config.schema import EngineSettings
from fedjax_sim.config.sections import as_json, from_section
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.placement import choose_placement, tree_bytes
from fedjax_sim.core.round import build_round
from fedjax_sim.core.sharding import auto_mesh, client_mesh
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.benchmark_data import BOW_VOCAB_SIZE
from fedjax_sim.data.client_store import ClientStore, eval_subset
from fedjax_sim.data.federated_data import FederatedData, validate
from fedjax_sim.data.packed import packed_bytes
from fedjax_sim.data.registry import Dataset
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.distributed import replicate
from fedjax_sim.errors import ConfigError
from fedjax_sim.models.model import Model
from fedjax_sim.models.registry import get_model
from fedjax_sim.models.tag_logreg import TagLogisticRegression
from fedjax_sim.run import population as population_lib
from fedjax_sim.run import schedule as schedule_lib
from fedjax_sim.run.divergence import DivergenceSettings, checked_settings
from fedjax_sim.run.experiment import Experiment, Reporter, RunSettings

Log = Callable[[str], None]


def _check_tag_vocab(config: ml_collections.ConfigDict) -> None:
  """`tag_logreg` has a kernel row per word id below its `vocab_size`; the
  StackOverflow tag task's bags hold ids below `data.bow_vocab_size`."""
  data = config.data
  if (config.model.name != 'tag_logreg' or data.get('name') != 'stackoverflow'
      or data.get('task', 'nwp') != 'tags'):
    return
  words = data.get('bow_vocab_size', BOW_VOCAB_SIZE)
  rows = config.model.get('options', {}).get('vocab_size', TagLogisticRegression.vocab_size)
  if rows < words:
    raise ConfigError(f'model.options.vocab_size={rows} must be >= '
                      f'data.bow_vocab_size={words} (tag_logreg needs a weight row '
                      'for every word id of the bag of words)')


def _warn_empty_clients(data: FederatedData, warn: Log) -> None:
  """Says how many clients hold no training data (they never train)."""
  empty = int(np.sum(np.asarray(data.counts) == 0))
  if empty:
    warn(f'warning: {empty} of {data.num_clients} clients have no training data '
         f'({int(np.sum(np.asarray(data.counts)))} examples in all); they are '
         'sampled but never train (lower data.num_clients?)')


def _data(config: ml_collections.ConfigDict, log: Log, warn: Log
          ) -> tuple[ml_collections.ConfigDict, Dataset]:
  """The data set, and the config (the centralized baseline changes it)."""
  dataset = load_data(config)
  streamed = isinstance(dataset.train, ClientStore)
  if streamed:
    refusals.refuse(refusals.STREAMED_PERSONALIZATION, from_section(
        config, 'personalization', personalization.Settings).client_test_fraction)
    refusals.refuse(refusals.STREAMED_ATTACK,
                    from_section(config, 'attack', attacks.Settings).kind)
    refusals.refuse(refusals.STREAMED_CENTRALIZED, config.get('centralized', False))
  if config.get('centralized', False):
    config, pooled_data, description = centralized.baseline(config, dataset.train)
    dataset = dataset._replace(train=pooled_data, client_names=None)
    log(description)
  if not streamed:  # a store was validated when it was converted
    validate(dataset.train, f'data {config.data.name!r}', dataset.num_classes)
    _warn_empty_clients(dataset.train, warn)
  if config.clients_per_round > dataset.train.num_clients:
    raise ConfigError(f'clients_per_round={config.clients_per_round} exceeds '
                      f'data.num_clients={dataset.train.num_clients}')
  return config, dataset


def algorithm_parts(config: ml_collections.ConfigDict, model: Model, dataset: Dataset
               ) -> tuple[FederatedAlgorithm, Dataset]:
  """The algorithm with its aggregator, compression and attack (which may
  poison the data)."""
  algorithm = build_algorithm(config, model, dataset.train.num_clients)
  algorithm = algorithm._replace(aggregator=build_aggregator(config))
  algorithm = compression.compress(algorithm,
                                   from_section(config, 'compression', compression.Settings))
  return attacks.apply_attack(from_section(config, 'attack', attacks.Settings), config.seed,
                              algorithm, dataset)


def reporters(config: ml_collections.ConfigDict, num_clients: int, asynchronous: bool,
               warn: Log) -> tuple[Reporter, ...]:
  """Privacy spent (`epsilon`) under DP-FedAvg: after every round, or under
  FedBuff after every release (server update)."""
  aggregation = aggregator_settings(config)
  if aggregation.name == 'dp':
    epsilon = privacy.epsilon_reporter(from_section(config, 'privacy', privacy.Settings),
                                       dp_options(aggregation, clients_per_update(config)),
                                       num_clients)
    if asynchronous:
      return (lambda round_index, server: epsilon(fedbuff.dp_releases(server) - 1)
              if fedbuff.dp_releases(server) else {'epsilon': 0.},)
    return (lambda round_index, server: epsilon(round_index),)
  if 'dp_noise' in str(aggregation.name).split('+'):
    warn('warning: aggregator.name has dp_noise, but no epsilon is reported: only the '
         "'dp' aggregator (clipped sum over clients_per_round) is accounted")
  return ()


def _population_bytes(model: Model, algorithm: FederatedAlgorithm, dataset: Dataset) -> int:
  """Bytes of the (packed) training data and of every client's persistent state."""
  train = dataset.train
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                          jnp.asarray(dataset.test['x'][:1]))
  state = tree_bytes(jax.eval_shape(algorithm.client_init, params)) * train.num_clients
  return state + (0 if isinstance(train, ClientStore) else packed_bytes(train))


def _population(placement: str, train, place) -> Callable[[str | None], population_lib.Population]:
  """The population factory of `placement` ('device', 'host' or 'disk')."""
  if placement == 'device':
    return lambda directory: population_lib.device(train, train.num_clients, place)
  block = population_lib.block_of(train.num_clients, jax.process_index(), jax.process_count(),
                                  jax.local_device_count())
  if placement == 'host':
    return lambda directory: population_lib.host(train, block, place)
  return lambda directory: population_lib.disk(train, block, place, directory)


def build_experiment(config: ml_collections.ConfigDict, log: Log = logging.info,
                     warn: Log = to_stderr) -> Experiment:
  """Validates `config` and builds the run's parts; `log` receives the
  engine's choice of layout under `engine.strategy='auto'`, `warn` what
  looks wrong but runs (clients with no data)."""
  check_config(config)
  divergence = checked_settings(from_section(config, 'divergence', DivergenceSettings))
  _check_tag_vocab(config)
  config_json = as_json(config)
  config, dataset = _data(config, log, warn)
  num_clients = dataset.train.num_clients
  streamed = isinstance(dataset.train, ClientStore)
  model = get_model(config.model.name, dataset.num_classes, config.model.get('options', {}))
  personal = from_section(config, 'personalization', personalization.Settings)
  split = personalization.split(personal, config.seed, dataset.train)  # held-out parts
  client_test = federated_eval.held_out_evaluator(config.get('client_eval_fraction', 0.),
                                                  config.seed,
                                                  model, split)
  train_part, personalize = personalization.personalize(
      personal, config.seed, config.client.batch_size, model, dataset.train, split)
  algorithm, dataset = algorithm_parts(config, model, dataset._replace(train=train_part))
  plan = plan_batches(dataset.train.max_examples, config.client.batch_size,
                      config.client.epochs, config.client.steps)
  engine = from_section(config, 'engine', EngineSettings)
  placement = choose_placement(engine.population,
                               _population_bytes(model, algorithm, dataset), streamed)
  shard = engine.shard_clients or jax.process_count() > 1
  mesh = auto_mesh() if engine.strategy == 'auto' else client_mesh() if shard else None
  counts = jnp.asarray(dataset.train.counts)  # for the behaviour draws
  draws = behaviour_lib.draws_from_config(config, plan)
  inputs = behaviour_lib.clock_inputs(config, model, dataset)
  buffered = behaviour_lib.fedbuff_from_config(config, algorithm, inputs, counts, plan)
  clock = None if buffered else behaviour_lib.clock_from_config(
      config, inputs, num_clients, plan, draws)
  sample_fn = jax.jit(lambda key: sample_clients(key, num_clients, config.clients_per_round))
  if buffered:
    schedule = schedule_lib.buffered(draws, counts)
  elif clock:
    schedule = schedule_lib.clocked(clock, counts, config.seed)
  else:
    schedule = schedule_lib.synchronous(sample_fn, draws, counts)
  algorithm = buffered or algorithm
  round_fn = build_round(algorithm, plan, engine.strategy, engine.chunk_size,
                         mesh, log, client_rows=placement != 'device',
                         drop_nonfinite=config.get('on_nonfinite', 'stop') == 'drop')
  place = (lambda tree: replicate(tree, mesh)) if mesh else jax.device_put
  settings = RunSettings(config.seed, config.rounds, config.eval_every,
                         config.checkpoint.every, config.checkpoint.keep,
                         config.get('on_nonfinite', 'stop'),
                         divergence)
  return Experiment(
      dataset, model, algorithm, round_fn, sample_fn, schedule,
      _population(placement, dataset.train, place), placement, place, settings, config_json,
      reporters(config, num_clients, buffered is not None, warn), personalize,
      eval_subset(dataset.train, config.eval_clients, config.seed) if streamed else None,
      client_test, mesh)
