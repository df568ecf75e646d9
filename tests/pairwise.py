"""A seeded greedy pairwise covering array over the simulator's features, and
each run's config (`tests/test_pairwise.py`)."""

from __future__ import annotations

import itertools
import random
import ml_collections

from configs import default
from fedjax_sim.algorithms.registry import algorithm_names
from fedjax_sim.config.schema import defaults

Run = dict[str, str]
Pair = tuple[tuple[str, str], tuple[str, str]]

FEATURES: dict[str, tuple[str, ...]] = {
    'algorithm': tuple(algorithm_names()),
    # clip, median and dp_noise in one chain: each meets every other value
    'aggregator': ('mean', 'trimmed_mean', 'krum', 'dp', 'clip+median+dp_noise'),
    'layout': ('vmap', 'chunked', 'sequential', 'lanes', 'auto'),
    'population': ('device', 'host', 'disk'),
    'compression': ('none', 'topk', 'quantize'),
    'attack': ('none', 'sign_flip', 'label_flip'),
    'stragglers': ('0', 'partial', 'drop'),
    'accountant': ('rdp', 'pld'),
    'dropout': ('0', '0.2'),
    'deadline': ('0', '6'),
    'availability': ('always', 'iid'),
    'fedbuff': ('0', '2'),
    'personalization': ('0', '0.2'),
    'client_eval': ('0', '0.5'),
    'model': ('logistic', 'mlp'),
    'data': ('synthetic', 'empty_clients'),
    'weighting': ('num_examples', 'uniform'),
}


def all_pairs(features: dict[str, tuple[str, ...]]) -> set[Pair]:
  """Every pair of values of two different features."""
  return {((f, a), (g, b)) for f, g in itertools.combinations(features, 2)
          for a in features[f] for b in features[g]}


def run_pairs(run: Run) -> set[Pair]:
  """The pairs one run covers (in `FEATURES` order)."""
  names = [f for f in FEATURES if f in run]
  return {((f, run[f]), (g, run[g])) for f, g in itertools.combinations(names, 2)}


def covering_array(features: dict[str, tuple[str, ...]], forbidden: set[Pair],
                   seed: int = 0, candidates: int = 20) -> list[Run]:
  """Runs with no `forbidden` pair covering every other pair of `features`:
  each run starts from an uncovered pair and fills the other features
  greedily (the allowed value covering most uncovered pairs, ties broken by
  a seeded draw), best of `candidates` tries."""
  rng = random.Random(seed)
  uncovered = all_pairs(features) - forbidden
  runs = []
  while uncovered:
    tries = [_greedy_run(features, uncovered, forbidden, rng) for _ in range(candidates)]
    best = max(tries, key=lambda run: len(run_pairs(run) & uncovered))
    runs.append(best)
    uncovered -= run_pairs(best)
  return runs


def _pair(a: tuple[str, str], b: tuple[str, str]) -> Pair:
  """The pair of two feature values, in `FEATURES` order."""
  order = list(FEATURES)
  return (a, b) if order.index(a[0]) < order.index(b[0]) else (b, a)


def _greedy_run(features: dict[str, tuple[str, ...]], uncovered: set[Pair],
                forbidden: set[Pair], rng: random.Random) -> Run:
  (f, a), (g, b) = rng.choice(sorted(uncovered))
  run = {f: a, g: b}
  rest = [h for h in features if h not in run]
  rng.shuffle(rest)
  for h in rest:
    scores = [(sum(_pair((h, v), kv) in uncovered for kv in run.items()), rng.random(), v)
              for v in features[h]
              if not any(_pair((h, v), kv) in forbidden for kv in run.items())]
    run[h] = max(scores)[2]
  return {h: run[h] for h in features}


def refused_run(base: Run, pair: Pair, forbidden: set[Pair]) -> Run:
  """`base` with `pair`'s two values, other features moved off any other
  forbidden pair (so that `pair` is the one refused)."""
  (f, a), (g, b) = pair
  run = {**base, f: a, g: b}
  for h in FEATURES:
    if h not in (f, g):
      run[h] = next(v for v in FEATURES[h] if not any(
          _pair((h, v), (k, run[k])) in forbidden for k in run if k != h))
  return run


def config_of(run: Run) -> ml_collections.ConfigDict:
  """The smallest experiment with `run`'s features: Synthetic(1, 1) over 10
  clients of at most 60 examples (or digits over 10 clients by
  Dirichlet(0.01), 3 of them empty), 4 clients per round, 2 rounds."""
  c = default.get_config('synthetic')
  c.rounds, c.eval_every, c.clients_per_round = 2, 2, 4
  c.data.update(num_clients=10, max_client_size=60)
  if run['data'] == 'empty_clients':
    c.data = defaults('data', name='digits', num_clients=10, alpha=0.01)
    c.client.batch_size = 40
  c.algorithm, c.weighting = run['algorithm'], run['weighting']
  c.model.name = run['model']
  if run['model'] == 'mlp':
    c.model.options = ml_collections.ConfigDict({'hidden': (8,)})
  c.aggregator.update(name=run['aggregator'], num_byzantine=0)
  c.privacy.accountant = run['accountant']
  c.engine.update(strategy=run['layout'], chunk_size=2, population=run['population'])
  c.compression.name = run['compression']
  if run['attack'] != 'none':
    c.attack.update(kind=run['attack'], fraction=0.3)
  if run['stragglers'] != '0':
    c.stragglers.update(fraction=0.3, mode=run['stragglers'])
  c.dropout.probability = float(run['dropout'])
  c.clock.deadline = float(run['deadline'])
  if run['availability'] == 'iid':
    c.availability.update(kind='iid', probability=0.8)
  c.fedbuff.buffer_size = int(run['fedbuff'])
  if run['personalization'] != '0':
    c.personalization.update(client_test_fraction=float(run['personalization']),
                             finetune_steps=2)
  c.client_eval_fraction = float(run['client_eval'])
  return c


def describe(run: Run) -> str:
  """The run's settings on one line."""
  return ' '.join(f'{k}={v}' for k, v in run.items())
