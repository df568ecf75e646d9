"""Hypergradient descent through federated rounds: the worked example of
docs/differentiable.md.

Digits over `--num_clients` clients (Dirichlet 0.5); the last `--held_out`
clients validate, the others train. An episode is `--rounds` rounds of
FedAvg (`--clients_per_round` sampled clients, 1 epoch of batch 20, a
784-200-10... here 64-200-10 MLP) from the same initial model; its loss is
the loss on the held-out clients afterwards.

  learning_rates: the client and server learning rates (log scale) learned
    by Adam on the hypergradient, one fresh episode per step, from FedAvg's
    defaults (0.1, 1.0); against those defaults and the grid's best (chosen
    by held-out loss).
  weights: `--malicious` of the training clients flip their labels; each
    training client's aggregation weight (2 sigmoid(logit), 1 at first) is
    learned likewise; against plain FedAvg, trimmed mean, median and the
    oracle that drops the flippers.

Every setting is then scored on `--eval_episodes` episodes no step saw:
test accuracy (digits' test set) and held-out loss, and what it cost.

  python scripts/hypergrad.py                      # both experiments
  python scripts/hypergrad.py --experiment=weights --steps=20
"""

from __future__ import annotations

import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from absl import flags  # noqa: E402

from fedjax_sim import cli, hypergrad  # noqa: E402
from fedjax_sim.aggregators.median import median  # noqa: E402
from fedjax_sim.aggregators.trimmed_mean import trimmed_mean  # noqa: E402
from fedjax_sim.algorithms.fedavg import fedavg  # noqa: E402
from fedjax_sim.behaviour.attacks import flip_labels  # noqa: E402
from fedjax_sim.data import load_digits, plan_batches  # noqa: E402
from fedjax_sim.errors import ConfigError  # noqa: E402
from fedjax_sim.evaluation.metrics import evaluate  # noqa: E402
from fedjax_sim.models import get_model  # noqa: E402

EXPERIMENTS = ('learning_rates', 'weights')
_EXPERIMENT = flags.DEFINE_list('experiment', list(EXPERIMENTS), f'Any of {EXPERIMENTS}.')
_NUM_CLIENTS = flags.DEFINE_integer('num_clients', 20, 'Digits clients in all.', lower_bound=2)
_HELD_OUT = flags.DEFINE_integer('held_out', 4, 'Clients that only validate.', lower_bound=1)
_PER_ROUND = flags.DEFINE_integer('clients_per_round', 8, 'Sampled clients per round.',
                                  lower_bound=1)
_ROUNDS = flags.DEFINE_integer('rounds', 10, 'Rounds per episode.', lower_bound=1)
_STEPS = flags.DEFINE_integer('steps', 30, 'Hypergradient steps.', lower_bound=1)
_META_LR = flags.DEFINE_float('meta_lr', 0.1, "Adam's learning rate on the hyper-parameters.",
                              lower_bound=0.)
_EVAL = flags.DEFINE_integer('eval_episodes', 3, 'Unseen episodes each setting is scored on.',
                             lower_bound=1)
_MALICIOUS = flags.DEFINE_float('malicious', 0.2, 'Fraction of label-flipping clients.',
                                lower_bound=0., upper_bound=1.)
_SEED = flags.DEFINE_integer('seed', 0, 'Data split, initial model and episodes.',
                             lower_bound=0, upper_bound=2**32 - 1)
cli.require_finite('meta_lr', 'malicious')

CLIENT_LRS = (0.01, 0.03, 0.1, 0.3, 1.)
SERVER_LRS = (0.5, 1., 2.)
DEFAULT_LRS = (0.1, 1.)


class Setup:
  """Data, model, plan and episodes shared by both experiments."""

  def __init__(self):
    if _HELD_OUT.value >= _NUM_CLIENTS.value:
      raise ConfigError(f'held_out must be below num_clients={_NUM_CLIENTS.value}, '
                        f'got {_HELD_OUT.value}')
    data, self.test = load_digits(_NUM_CLIENTS.value, 'dirichlet', 0.5, seed=_SEED.value)
    self.train, valid = hypergrad.hold_out(data, _HELD_OUT.value)
    if _PER_ROUND.value > self.train.num_clients:
      raise ConfigError(f'clients_per_round must be at most the {self.train.num_clients} '
                        f'training clients, got {_PER_ROUND.value}')
    self.model = get_model('mlp', 10, {'hidden': (200,)})
    self.valid_loss = hypergrad.validation_loss(self.model, jax.device_put(valid))
    self.plan = plan_batches(self.train.max_examples, 20)
    self.params = self.model.init(jax.random.PRNGKey(_SEED.value), jnp.asarray(self.test['x'][:1]))
    base = jax.random.PRNGKey(_SEED.value + 1)
    self.episode = lambda t, stream=0: hypergrad.episode(  # noqa: E731
        jax.random.fold_in(jax.random.fold_in(base, stream), t), self.train.num_clients,
        _PER_ROUND.value, _ROUNDS.value)
    self.held = [self.episode(e, stream=1) for e in range(_EVAL.value)]

  def scorer(self, build, data):
    """`hyper -> (test accuracy, held-out loss)` means over the held-out episodes."""
    run = jax.jit(hypergrad.train_episode(build, self.plan, data))

    def score(hyper):
      results = [(evaluate(self.model, p, self.test)['accuracy'], float(self.valid_loss(p)))
                 for p in (run(self.params, hyper, ep) for ep in self.held)]
      return tuple(float(np.mean(column)) for column in zip(*results))
    return score

  def learn(self, build, data, hyper):
    """Adam on the hypergradient of the held-out loss, one new episode per step."""
    final = hypergrad.train_episode(build, self.plan, data, differentiable=True)
    loss_and_grad = jax.jit(jax.value_and_grad(
        lambda h, ep: self.valid_loss(final(self.params, h, ep))))
    optimizer = optax.apply_if_finite(
        optax.chain(optax.clip_by_global_norm(1.), optax.adam(_META_LR.value)), 5)
    return hypergrad.descend(loss_and_grad, hyper, self.episode, _STEPS.value, optimizer)


def learning_rates(s: Setup) -> list[tuple]:
  def build(h):
    return fedavg(s.model, optax.sgd(jnp.exp(h['log_client_lr'])),
                  optax.sgd(jnp.exp(h['log_server_lr'])))

  as_hyper = lambda c, v: {'log_client_lr': jnp.log(c), 'log_server_lr': jnp.log(v)}  # noqa
  score = s.scorer(build, s.train)
  rows = [('FedAvg defaults', *DEFAULT_LRS, *score(as_hyper(*DEFAULT_LRS)), '-')]
  start = time.perf_counter()
  grid = [(c, v, *score(as_hyper(c, v))) for c in CLIENT_LRS for v in SERVER_LRS]
  grid_seconds = time.perf_counter() - start
  best = min(grid, key=lambda row: row[3])  # by held-out loss, as the hypergradient
  rows.append((f'grid best of {len(grid)}', *best,
               f'{len(grid) * len(s.held) * _ROUNDS.value} rounds, {grid_seconds:.1f} s'))
  start = time.perf_counter()
  learned, losses = s.learn(build, s.train, as_hyper(*DEFAULT_LRS))
  seconds = time.perf_counter() - start
  lrs = (float(jnp.exp(learned['log_client_lr'])), float(jnp.exp(learned['log_server_lr'])))
  rows.append(('hypergradient', *lrs, *score(learned),
               f'{_STEPS.value} x {_ROUNDS.value} rounds fwd+bwd, {seconds:.0f} s'))
  print(f'learning_rates: episode held-out loss {losses[0]:.3f} -> {losses[-1]:.3f} '
        f'over {len(losses)} steps', file=sys.stderr)
  return rows


def weights(s: Setup) -> list[tuple]:
  n = s.train.num_clients
  bad = np.zeros(n, bool)
  bad[np.random.default_rng(_SEED.value).permutation(n)[:round(_MALICIOUS.value * n)]] = True
  poisoned = flip_labels(s.train, bad, 10)

  def build(h, aggregator=None):
    algorithm = fedavg(s.model, optax.sgd(DEFAULT_LRS[0]), optax.sgd(DEFAULT_LRS[1]),
                       client_weights=2 * jax.nn.sigmoid(h['logits']))
    return algorithm if aggregator is None else algorithm._replace(aggregator=aggregator)

  uniform = {'logits': jnp.zeros(n)}
  oracle = {'logits': jnp.where(bad, -30., 0.)}  # flippers' weight about 1e-13
  rows = []
  for name, aggregator in (('FedAvg', None), ('trimmed mean 0.2', trimmed_mean(0.2)),
                           ('median', median())):
    score = s.scorer(lambda h, a=aggregator: build(h, a), poisoned)
    rows.append((name, 1., 1., *score(uniform), '-'))
  score = s.scorer(build, poisoned)
  start = time.perf_counter()
  learned, losses = s.learn(build, poisoned, uniform)
  seconds = time.perf_counter() - start
  w = np.asarray(2 * jax.nn.sigmoid(learned['logits']))
  rows.append(('hypergradient weights', float(w[bad].mean()), float(w[~bad].mean()),
               *score(learned), f'{_STEPS.value} x {_ROUNDS.value} rounds fwd+bwd, '
               f'{seconds:.0f} s'))
  rows.append(('oracle (flippers dropped)', 0., 1., *score(oracle), '-'))
  print(f'weights: {int(bad.sum())} of {n} clients flip labels; episode held-out loss '
        f'{losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps', file=sys.stderr)
  return rows


def table(header: tuple, rows: list[tuple]) -> str:
  cell = lambda v: f'{v:.3g}' if isinstance(v, float) else str(v)  # noqa: E731
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return '\n'.join(lines + ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows])


def main(argv: list[str]) -> None:
  del argv
  unknown = sorted(set(_EXPERIMENT.value) - set(EXPERIMENTS))
  if unknown:
    raise ConfigError(f'experiment must be among {list(EXPERIMENTS)}, got {unknown[0]!r}')
  s = Setup()
  scores = ('test accuracy', 'held-out loss', 'cost')
  if 'learning_rates' in _EXPERIMENT.value:
    print(table(('setting', 'client lr', 'server lr') + scores, learning_rates(s)) + '\n')
  if 'weights' in _EXPERIMENT.value:
    print(table(('aggregation', 'mean weight, flippers', 'mean weight, others') + scores,
                weights(s)))


if __name__ == '__main__':
  cli.run(main)
