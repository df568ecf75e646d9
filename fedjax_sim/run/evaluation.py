"""What a run evaluates and prints: the metrics of an evaluation, the
console's eval lines, and what a round adds to them."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.compression import UPLOAD_BYTES
from fedjax_sim.core.round import RoundState
from fedjax_sim.errors import DivergedError
from fedjax_sim.evaluation.metrics import (binary_metrics, client_sums, per_client,
                                           positive_scores, summarize_clients, test_metrics,
                                           test_sums)
from fedjax_sim.run.experiment import Experiment

PyTree = Any


def evaluate_state(exp: Experiment, state: RoundState, round_index: int) -> dict[str, float]:
  """Centralized test metrics `test_*` (with two classes also precision,
  recall, F1 and ROC AUC), average client metrics on their training data
  `client_train_*`, what the experiment's reporters add (e.g. privacy spent),
  the sampled clients' held-out metrics `sampled_clients_test_*` with
  `client_eval_fraction`, and personalized accuracies on the clients' local
  test parts when personalization is on."""
  return evaluate_with_clients(exp, state, round_index)[0]


def evaluate_with_clients(exp: Experiment, state: RoundState, round_index: int,
                          every_client: Callable[[], PyTree] | None = None,
                          sums: tuple[jax.Array, jax.Array] | None = None
                          ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """`evaluate_state`'s metrics, and each evaluated client's `client` id,
  `examples`, `accuracy` and `loss` on its own training data. `every_client`
  gives every client's state for personalization (default `state.clients`;
  a population split over processes gathers its blocks). `sums`: the
  params' `test_sums` and `client_sums`, if computed already (a sweep
  computes every member's in one program: `member_sums`)."""
  if jax.process_count() > 1:  # evaluate locally on the replicated values
    state = jax.tree.map(np.asarray, state)
  params = state.server.params
  ids, data = exp.client_eval or (np.arange(exp.dataset.train.num_clients),
                                  exp.dataset.train)
  tested, per_client_sums = sums or (test_sums(exp.model, params, exp.dataset.test),
                                     client_sums(exp.model, params, data))
  evals = {f'test_{k}': v for k, v in test_metrics(tested).items()}
  evals.update({f'client_train_{k}': float(v)
                for k, v in summarize_clients(per_client_sums).items()})
  if exp.dataset.num_classes == 2:
    scores = positive_scores(exp.model, params, jnp.asarray(exp.dataset.test['x']))
    binary = binary_metrics(np.asarray(scores), exp.dataset.test['y'])
    evals.update({f'test_{k}': v for k, v in binary.items()})
  for reporter in exp.reporters:
    evals.update(reporter(round_index, state.server))
  if exp.client_test is not None:
    evals.update(exp.client_test(params, round_index))
  if exp.personalize is not None:
    evals.update(exp.personalize(state, round_index,
                                 exp.algorithm.personal_params(
                                     (every_client or (lambda: state.clients))())))
  return evals, {'client': np.asarray(ids), **per_client(per_client_sums, data.counts)}


def round_evals(exp: Experiment, state: RoundState, round_index: int, metrics: dict,
                rounds_per_sec: Callable[[], float], fields: dict[str, float], saved: str,
                every_client: Callable[[], PyTree] | None = None,
                sums: tuple[jax.Array, jax.Array] | None = None
                ) -> tuple[dict, dict[str, np.ndarray]]:
  """The evaluation after round `round_index` (0-based) with the round's own
  metrics (`round_summary`), the speed `rounds_per_sec()` (read once the
  evaluation is done) and the schedule's `fields`, and the client table; a
  DivergedError (naming the checkpoint `saved`) when the test loss is not
  finite."""
  evals, clients = evaluate_with_clients(exp, state, round_index, every_client, sums)
  if not np.isfinite(evals['test_loss']):
    raise DivergedError(f'round {round_index + 1}: the test loss is {evals["test_loss"]}; '
                        f'{saved}')
  evals.update(round=round_index + 1, train_loss=float(metrics['train_loss']),
               rounds_per_sec=rounds_per_sec())
  evals.update(round_summary(metrics))
  evals.update(fields)
  return evals, clients


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
  if 'malicious' in clients:  # under an attack (fedjax_sim/behaviour/attacks.py)
    summary['malicious_sampled'] = float(jnp.sum(clients['malicious']))
  return summary
