"""Run a federated experiment described by an ml_collections config
(`fedjax_sim.train(config, workdir=...)`)."""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from absl import logging
from jax.sharding import Mesh

from fedjax_sim.config import behaviour as behaviour_lib
from fedjax_sim import checkpoint, federated_eval, personalization, report
from fedjax_sim.client_state_store import open_population
from fedjax_sim.config import centralized
from fedjax_sim import stragglers as stragglers_lib
from fedjax_sim import virtual_clock
from fedjax_sim import virtual_time as vt
from fedjax_sim.fedbuff import BufferState
from fedjax_sim import workdir as workdir_lib
from fedjax_sim import attacks, compression, privacy
from fedjax_sim.aggregators.dp import dp_options
from fedjax_sim.aggregators.registry import build_aggregator
from fedjax_sim.compression import UPLOAD_BYTES
from fedjax_sim.config.algorithms import aggregator_settings, build_algorithm
from fedjax_sim.config.sections import as_json, from_section
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.population import (choose_placement, gather_rows, scatter_rows,
                                        tree_bytes)
from fedjax_sim.core.round import RoundFn, RoundState, build_round, init_state
from fedjax_sim.core.sharding import auto_mesh, client_mesh
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.benchmark_data import BOW_VOCAB_SIZE
from fedjax_sim.data.client_store import ClientStore, eval_subset
from fedjax_sim.data.federated_data import FederatedData, validate
from fedjax_sim.data.packed import for_round, packed_bytes
from fedjax_sim.data.registry import Dataset, load_dataset
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.distributed import replicate
from fedjax_sim.config.checks import check_config
from fedjax_sim.divergence import LaggedCheck, Saved, recorded_drops
from fedjax_sim.errors import ConfigError, DivergedError, Interrupted
from fedjax_sim.evaluation import (binary_metrics, client_sums, evaluate, per_client,
                                   positive_scores, summarize_clients)
from fedjax_sim.models.model import Model
from fedjax_sim.models.registry import get_model
from fedjax_sim.models.tag_logreg import TagLogisticRegression
from fedjax_sim.recorder import Recorder
from fedjax_sim.stop_signals import StopSignals

PROGRESS = ('bar', 'lines', 'none')

Reporter = Callable[[int], dict[str, float]]


class Experiment(NamedTuple):
  """Everything a run needs, built from a config."""

  dataset: Dataset
  model: Model
  algorithm: FederatedAlgorithm
  round_fn: RoundFn
  sample_fn: Callable[[jax.Array], jax.Array]
  reporters: tuple[Reporter, ...] = ()
  personalize: personalization.Evaluator | None = None
  # With a ClientStore (data streamed from disk): the ids and data of the
  # fixed seeded subset of `config.eval_clients` clients that client-level
  # evaluation uses.
  client_eval: tuple[np.ndarray, FederatedData] | None = None
  # Tests the global model on a sampled fraction of clients' held-out data
  # (`client_eval_fraction`; `fedjax_sim.federated_eval`).
  client_test: federated_eval.Evaluator | None = None
  # Per-round draws of the clients' step budgets and reports: stragglers and
  # dropouts (`fedjax_sim.stragglers`, `fedjax_sim.dropouts`).
  behaviour: tuple[stragglers_lib.Draw, ...] = ()
  # Rounds on the virtual clock (`fedjax_sim.virtual_clock`): it selects the
  # clients and applies `behaviour` itself.
  clock: virtual_clock.Clock | None = None
  # Asynchronous FedBuff (`fedjax_sim.fedbuff`): the algorithm is wrapped, and
  # each round trains the clients its server state names.
  asynchronous: bool = False
  # The `clients` mesh the round runs on (None: one device).
  mesh: Mesh | None = None
  # Where data and client states live: 'device'; 'host' memory, rounds
  # moving the sampled rows (`fedjax_sim.core.population`); or 'disk', as
  # 'host' with the client states in files (`fedjax_sim.client_state_store`).
  population: str = 'device'

  @property
  def on_host(self) -> bool:
    """Whether rounds gather the sampled clients' rows on the host."""
    return self.population != 'device'


def _to_stderr(line: str) -> None:
  print(line, file=sys.stderr)


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


def build_experiment(config: ml_collections.ConfigDict,
                     log: Callable[[str], None] = logging.info,
                     warn: Callable[[str], None] = _to_stderr) -> Experiment:
  """Validates `config` and builds data, model, algorithm and round program;
  `log` receives the engine's choice of layout under `engine.strategy='auto'`,
  `warn` what looks wrong but runs (clients with no data)."""
  check_config(config)
  _check_tag_vocab(config)
  dataset = load_dataset(config.data, config.seed)
  streamed = isinstance(dataset.train, ClientStore)
  if streamed and (config.get('personalization', {}).get('client_test_fraction', 0)
                   or config.get('attack', {}).get('kind', 'none') != 'none'
                   or config.get('centralized', False)):
    raise ConfigError(f'personalization.client_test_fraction, attack.kind and '
                      f'centralized need in-memory data; data.name={config.data.name!r} '
                      'is streamed from disk')
  if config.get('centralized', False):
    config, pooled_data, description = centralized.baseline(config, dataset.train)
    dataset = dataset._replace(train=pooled_data, client_names=None)
    log(description)
  if not streamed:  # a store was validated when it was converted
    validate(dataset.train, f'data {config.data.name!r}', dataset.num_classes)
    _warn_empty_clients(dataset.train, warn)
  num_clients = dataset.train.num_clients
  if config.clients_per_round > num_clients:
    raise ConfigError(f'clients_per_round={config.clients_per_round} exceeds '
                      f'data.num_clients={num_clients}')
  model = get_model(config.model.name, dataset.num_classes,
                    config.model.get('options', {}))
  personal = from_section(config, 'personalization', personalization.Settings)
  split = personalization.split(personal, config.seed, dataset.train)  # held-out parts
  client_test = federated_eval.held_out_evaluator(config.get('client_eval_fraction', 0.),
                                                  config.seed, model, split)
  train_part, personalize = personalization.personalize(
      personal, config.seed, config.client.batch_size, model, dataset.train, split)
  dataset = dataset._replace(train=train_part)
  algorithm = build_algorithm(config, model, num_clients)
  aggregation = aggregator_settings(config)
  algorithm = algorithm._replace(
      aggregator=build_aggregator(aggregation, config.clients_per_round))
  algorithm = compression.compress(algorithm,
                                   from_section(config, 'compression', compression.Settings))
  algorithm, dataset = attacks.apply_attack(from_section(config, 'attack', attacks.Settings),
                                            config.seed, algorithm, dataset)
  reporters: list[Reporter] = []
  if aggregation.name == 'dp':
    reporters.append(privacy.epsilon_reporter(
        from_section(config, 'privacy', privacy.Settings),
        dp_options(aggregation, config.clients_per_round), num_clients))
  elif 'dp_noise' in str(aggregation.name).split('+'):
    warn('warning: aggregator.name has dp_noise, but no epsilon is reported: only the '
         "'dp' aggregator (clipped sum over clients_per_round) is accounted")
  plan = plan_batches(dataset.train.max_examples, config.client.batch_size,
                      config.client.epochs, config.client.steps)
  placement = config.engine.get('population', 'auto')
  if placement == 'auto' and jax.process_count() > 1:
    placement = 'device'  # multi-process runs keep the population on the devices
  population = choose_placement(placement, population_bytes(model, algorithm, dataset),
                                streamed)
  if population != 'device' and jax.process_count() > 1:
    raise ConfigError(f"engine.population={population!r} is not supported in multi-process "
                      "runs yet; use 'device'")
  if config.engine.strategy == 'auto':
    mesh = auto_mesh()
  else:
    mesh = (client_mesh() if config.engine.get('shard_clients', False)
            or jax.process_count() > 1 else None)
  draws = behaviour_lib.draws_from_config(config, plan)
  inputs = behaviour_lib.clock_inputs(config, model, dataset)
  buffered = behaviour_lib.fedbuff_from_config(
      config, algorithm, inputs, jnp.asarray(dataset.train.counts), plan)
  algorithm = buffered or algorithm
  clock = None if buffered else behaviour_lib.clock_from_config(
      config, inputs, num_clients, plan, draws)
  round_fn = build_round(algorithm, plan, config.engine.strategy,
                         config.engine.chunk_size, mesh, log, client_rows=population != 'device',
                         drop_nonfinite=config.get('on_nonfinite', 'stop') == 'drop')
  sample_fn = jax.jit(lambda key: sample_clients(key, num_clients,
                                                 config.clients_per_round))
  client_eval = (eval_subset(dataset.train, config.eval_clients,
                             config.seed) if streamed else None)
  return Experiment(dataset, model, algorithm, round_fn, sample_fn, tuple(reporters),
                    personalize=personalize, client_eval=client_eval,
                    client_test=client_test,
                    behaviour=() if clock else draws, clock=clock,
                    asynchronous=buffered is not None, mesh=mesh, population=population)


class Scheduled(NamedTuple):
  """A round's clients and their behaviour, and the virtual clock after it."""

  ids: jax.Array
  behaviour: dict[str, jax.Array]
  time: vt.VirtualTime | None  # None without a clock
  duration: jax.Array | None


def schedule_round(exp: Experiment, sample_key: jax.Array, counts: jax.Array,
                   time: vt.VirtualTime | None) -> Scheduled:
  """Who trains in a round and how far: from the virtual clock when the
  experiment has one (starting at `time`), else uniform sampling and the
  behaviour draws."""
  if exp.clock is None:
    ids = exp.sample_fn(sample_key)
    return Scheduled(ids, behaviour_lib.client_behaviour(exp.behaviour, sample_key, ids, counts),
                     None, None)
  ids, behaviour, duration, end = exp.clock.step(time, sample_key, counts)
  return Scheduled(ids, behaviour, end, duration)


def replay_clock(exp: Experiment, seed: int, rounds: int, counts: jax.Array
                 ) -> vt.VirtualTime | None:
  """The virtual time after `rounds` rounds (the schedule does not depend
  on training, so a resumed run replays it), or None without a clock."""
  if exp.clock is None:
    return None
  time = vt.zero()
  for r in range(rounds):
    time = schedule_round(exp, sample_and_round_keys(seed, r)[0], counts, time).time
  return time


def _warn_empty_clients(data: FederatedData, log: Callable[[str], None]) -> None:
  """Says how many clients hold no training data (they never train)."""
  empty = int(np.sum(np.asarray(data.counts) == 0))
  if empty:
    log(f'warning: {empty} of {data.num_clients} clients have no training data '
        f'({int(np.sum(np.asarray(data.counts)))} examples in all); they are '
        'sampled but never train (lower data.num_clients?)')


def population_bytes(model: Model, algorithm: FederatedAlgorithm, dataset: Dataset) -> int:
  """Bytes of the (packed) training data and of every client's persistent state."""
  train = dataset.train
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                          jnp.asarray(dataset.test['x'][:1]))
  state = tree_bytes(jax.eval_shape(algorithm.client_init, params)) * train.num_clients
  return state + (0 if isinstance(train, ClientStore) else packed_bytes(train))


def sample_and_round_keys(seed: int, round_index: int) -> tuple[jax.Array, jax.Array]:
  """`(sample_key, round_key)` of a round; a function of seed and index only."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), round_index + 1)
  return tuple(jax.random.split(key))


def evaluate_state(exp: Experiment, state: RoundState,
                   round_index: int) -> dict[str, float]:
  """Centralized test metrics `test_*` (with two classes also precision,
  recall, F1 and ROC AUC), average client metrics on their training data
  `client_train_*`, what the experiment's reporters add (e.g. privacy spent),
  the sampled clients' held-out metrics `sampled_clients_test_*` with
  `client_eval_fraction`, and personalized accuracies on the clients' local
  test parts when personalization is on."""
  return evaluate_with_clients(exp, state, round_index)[0]


def evaluate_with_clients(exp: Experiment, state: RoundState, round_index: int
                          ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """`evaluate_state`'s metrics, and each evaluated client's `client` id,
  `examples`, `accuracy` and `loss` on its own training data."""
  if jax.process_count() > 1:  # evaluate locally on the replicated values
    state = jax.tree.map(np.asarray, state)
  params = state.server.params
  test = evaluate(exp.model, params, exp.dataset.test)
  ids, data = exp.client_eval or (np.arange(exp.dataset.train.num_clients),
                                  exp.dataset.train)
  sums = client_sums(exp.model, params, data)
  evals = {f'test_{k}': v for k, v in test.items()}
  evals.update({f'client_train_{k}': float(v) for k, v in summarize_clients(sums).items()})
  if exp.dataset.num_classes == 2:
    scores = positive_scores(exp.model, params, jnp.asarray(exp.dataset.test['x']))
    binary = binary_metrics(np.asarray(scores), exp.dataset.test['y'])
    evals.update({f'test_{k}': v for k, v in binary.items()})
  for reporter in exp.reporters:
    evals.update(reporter(round_index))
  if exp.client_test is not None:
    evals.update(exp.client_test(params, round_index))
  if exp.personalize is not None:
    evals.update(exp.personalize(state, round_index,
                                 exp.algorithm.personal_params(state.clients)))
  return evals, {'client': np.asarray(ids), **per_client(sums, data.counts)}


_HEADLINE = ('test_accuracy', 'test_loss', 'train_loss')
_NOT_LOGGED = {'round', 'rounds_per_sec'}
WIDTH = 100  # columns of an eval line
_INDENT = ' ' * 11  # under the first metric


def format_evals(evals: dict[str, float]) -> str:
  """An evaluation for the console: one line with the round, the headline
  metrics and rounds/s, then every other metric on indented lines; no line
  is wider than `WIDTH`. Names are those of metrics.jsonl."""
  head = [f"round {evals['round']:5d}"] + [f'{k} {evals[k]:.4f}' for k in _HEADLINE]
  lines = ['  '.join(head + [f"rounds/s {evals['rounds_per_sec']:.1f}"])]
  line = ''
  for k, v in evals.items():
    if k in _HEADLINE or k in _NOT_LOGGED:
      continue
    part = f'{k} {v:.4g}'
    if line and len(_INDENT) + len(line) + 2 + len(part) > WIDTH:
      lines.append(_INDENT + line)
      line = ''
    line = f'{line}  {part}' if line else part
  if line:
    lines.append(_INDENT + line)
  return '\n'.join(lines)


_NOT_SUMMARIZED = ('clients', 'total_weight', 'nonfinite_clients', 'server_finite')


def round_summary(metrics: dict) -> dict[str, float]:
  """What a round's metrics add to the log: the aggregator's scalar metrics
  (e.g. DP `clip_norm`), under compression `upload_bytes` summed over the
  sampled clients (the round's total upload), under an attack the number of
  malicious clients sampled."""
  clients = metrics['clients']
  summary = {k: float(v) for k, v in metrics.items()
             if k not in clients and k not in _NOT_SUMMARIZED and jnp.ndim(v) == 0}
  if UPLOAD_BYTES in clients:
    summary[UPLOAD_BYTES] = float(jnp.sum(clients[UPLOAD_BYTES]))
  if 'malicious' in clients:  # under an attack (fedjax_sim/attacks.py)
    summary['malicious_sampled'] = float(jnp.sum(clients['malicious']))
  return summary


def clock_fields(server, time: vt.VirtualTime | None, duration: jax.Array | None,
                 behaviour: dict[str, jax.Array]) -> dict[str, float]:
  """On the virtual clock: `virtual_time` (seconds, at the round's end),
  `round_seconds` (its duration) and `reported_clients`; under FedBuff
  `virtual_time`, `server_updates` and `mean_staleness` (of the last
  update's reports); {} without a clock."""
  if isinstance(server, BufferState):
    return {'virtual_time': vt.to_float(server.time), 'server_updates': float(server.version),
            'mean_staleness': float(server.staleness)}
  if time is None:
    return {}
  fields = {'virtual_time': vt.to_float(time), 'round_seconds': float(duration)}
  if 'reported' in behaviour:
    fields['reported_clients'] = float(jnp.sum(behaviour['reported']))
  return fields


def train(config: ml_collections.ConfigDict,
          log: Callable[[str], None] = print, workdir: str | None = None,
          resume: bool = False, progress: str = 'lines') -> list[dict[str, float]]:
  """Runs `config.rounds` rounds; evaluates every `config.eval_every` rounds
  and after the last one. Returns the evaluation history (of this process).

  Args:
    config: the experiment.
    log: receives one line per evaluation (warnings go to stderr).
    workdir: if set, the run writes its config, metrics, TensorBoard
      summaries, checkpoints and final report there (`fedjax_sim.workdir`).
    resume: continue the run in `workdir` from its newest intact checkpoint
      (the result is bit-identical to an uninterrupted run), or extend a
      finished run when only `config.rounds` grew.
    progress: 'bar' (tqdm bar, eval lines above it), 'lines' (eval lines
      only) or 'none' (quiet).

  Raises:
    ConfigError: a bad config or workdir (before any round runs).
    DivergedError: a client update or the server state became non-finite
      (with `config.on_nonfinite='stop'`), or the test loss did.
    Interrupted: SIGINT or SIGTERM arrived; the run stopped after the round
      it was in, checkpointed (with a workdir) and wrote its report. A second
      signal stops at once (KeyboardInterrupt).
  """
  if progress not in PROGRESS:
    raise ConfigError(f'--progress must be one of {list(PROGRESS)}, got {progress!r}')
  multi_process = jax.process_count() > 1
  if multi_process and workdir:
    raise ConfigError('--workdir is not supported in multi-process runs yet; '
                      'drop it (process 0 prints the eval lines)')
  if multi_process and jax.process_index() > 0:
    log = lambda line: None  # noqa: E731  (process 0 reports)
  say = {'bar': tqdm.tqdm.write, 'lines': log, 'none': lambda line: None}[progress]
  warn = _to_stderr if jax.process_index() == 0 else lambda line: None
  exp = build_experiment(config, say, warn)
  streamed = isinstance(exp.dataset.train, ClientStore)
  train_data = exp.dataset.train
  if streamed and multi_process:
    raise ConfigError(f'data.name={config.data.name!r} is streamed from disk, '
                      'which multi-process runs do not support yet')
  # On a mesh (multi-process: every process passes identical values as
  # global arrays) inputs are replicated as the round returns its state, so
  # the second round reuses the first round's program.
  place = (lambda tree: replicate(tree, exp.mesh)) if exp.mesh else jax.device_put
  # Packed (no padding) where padding would waste much memory (`data.packed`).
  data = None if exp.on_host else place(for_round(train_data))
  sample = exp.dataset.test['x'][:1]
  params = exp.model.init(jax.random.PRNGKey(config.seed), jnp.asarray(sample))
  on_disk = exp.population == 'disk'
  if on_disk:  # the client states live in `store` (opened below), not in checkpoints
    state = RoundState(exp.algorithm.init(params), (), exp.algorithm.aggregator.init())
  else:
    state = init_state(exp.algorithm, params, train_data.num_clients, exp.on_host)
  state = state._replace(server=place(state.server), aggregator=place(state.aggregator),
                         clients=state.clients if exp.on_host else place(state.clients))
  first_round, recorder, ckpt = 0, None, None
  if workdir:
    has_run = workdir_lib.prepare(workdir, as_json(config), resume)
    ckpt = checkpoint.manager(os.path.join(workdir, workdir_lib.CHECKPOINTS),
                              config.checkpoint.keep)
    restored = checkpoint.restore_latest(ckpt, state, warn) if has_run else None
    if restored is not None:
      first_round, state = restored
      if exp.on_host:  # writable host arrays again
        state = state._replace(clients=jax.tree.map(np.array, state.clients))
    if first_round >= config.rounds:
      say(f'{workdir} is complete: {first_round} of {config.rounds} rounds done; '
          'to extend it, --resume with a larger --config.rounds')
      return []
    workdir_lib.truncate_after(workdir, first_round)
    recorder = Recorder(workdir, first_round, exp.dataset.client_names)
  saved = Saved(first_round if ckpt and first_round else None, workdir)
  bar = tqdm.tqdm(total=config.rounds, initial=first_round, unit='round',
                  disable=progress != 'bar', dynamic_ncols=True)
  # A resumed run counts the clients dropped before its checkpoint too.
  history, checks = [], LaggedCheck(config.get('on_nonfinite', 'stop'),
                                    recorded_drops(workdir) if first_round else 0)
  all_counts = jnp.asarray(train_data.counts)  # for the behaviour draws
  clock_time = replay_clock(exp, config.seed, first_round, all_counts)
  store = None
  with StopSignals() as stop:  # from here a stop signal ends the run after a round
    if first_round:
      say(f'resumed {workdir} after round {first_round}')
    start, last_round = time.perf_counter(), first_round
    try:
      if on_disk:  # rolled back to the checkpoint it resumes from
        store = open_population(workdir and os.path.join(workdir, workdir_lib.POPULATION),
                                exp.algorithm.client_init(params), train_data.num_clients,
                                first_round or None)
        state = state._replace(clients=store.states)
      for r in range(first_round, config.rounds):
        sample_key, round_key = sample_and_round_keys(config.seed, r)
        if exp.asynchronous:  # FedBuff: the clients its schedule started
          ids, behaviour, duration = jnp.copy(state.server.next_clients), {}, None
        else:
          ids, behaviour, clock_time, duration = schedule_round(exp, sample_key, all_counts,
                                                                clock_time)
        if exp.on_host:  # only the sampled clients' rows are read and sent
          host_ids = np.asarray(ids)
          rows = (train_data.gather(host_ids) if streamed
                  else gather_rows(train_data, host_ids))
          population = state.clients
          clients = store.gather(host_ids) if store else gather_rows(population, host_ids)
          state, metrics = exp.round_fn(
              state._replace(clients=clients), rows, ids,
              round_key, np.arange(len(host_ids), dtype=np.int32), **behaviour)
          if store:
            store.write(r + 1, host_ids, state.clients)
          else:
            scatter_rows(population, host_ids, state.clients)
          state = state._replace(clients=population)
        else:
          state, metrics = exp.round_fn(state, data, place(ids), place(round_key),
                                        **place(behaviour))
        due_eval = (r + 1) % config.eval_every == 0 or r + 1 == config.rounds
        # Rounds that record (and so checkpoint) or evaluate are checked now;
        # others once the next round is queued, so the host never waits.
        checks.add(metrics, ids, r + 1, saved, now=bool(recorder) or due_eval)
        bar.update(1)
        if recorder:
          recorder.round(r + 1, float(metrics['train_loss']), np.asarray(ids),
                         np.asarray(metrics['clients']['update_norm']),
                         np.asarray(metrics['clients']['train_loss']),
                         clock_fields(state.server, clock_time, duration, behaviour))
        if due_eval:
          evals, client_table = evaluate_with_clients(exp, state, r)
          if not np.isfinite(evals['test_loss']):
            raise DivergedError(f'round {r + 1}: the test loss is {evals["test_loss"]}; '
                                f'{saved.describe()}')
          now = time.perf_counter()
          evals.update(round=r + 1, train_loss=float(metrics['train_loss']),
                       rounds_per_sec=(r + 1 - last_round) / (now - start))
          evals.update(round_summary(metrics))
          evals.update(clock_fields(state.server, clock_time, duration, behaviour))
          if checks.action == 'drop':
            evals['dropped_clients'] = float(checks.dropped)
          start, last_round = now, r + 1
          history.append(evals)
          say(format_evals(evals))
          bar.set_postfix(test_accuracy=f"{evals['test_accuracy']:.4f}")
          if recorder:
            recorder.evals(evals)
            recorder.clients(r + 1, client_table)
        stopping = stop.requested  # read once: a stop checkpoints, then ends the run
        every = config.checkpoint.every
        if ckpt and ((every and (r + 1) % every == 0) or r + 1 == config.rounds or stopping):
          if store:
            store.flush()
          # Its round was checked (a workdir records).
          checkpoint.save(ckpt, r + 1, state._replace(clients=()) if store else state)
          if store:  # no resume can go back further than the oldest checkpoint
            store.checkpointed(min(ckpt.all_steps()))
          saved = saved._replace(rounds_done=r + 1)
        if stopping and r + 1 < config.rounds:
          checks.flush()
          raise Interrupted(r + 1, workdir)
    finally:
      bar.close()
      if store:
        store.close(remove=not workdir)
      if recorder:
        recorder.close()
        report.write_report(workdir)
  return history
