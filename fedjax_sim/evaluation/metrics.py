"""Evaluation: centralized test metrics (binary tasks add precision, recall,
F1 and ROC AUC), average client metrics and fairness."""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.models.model import Model


def example_sums(model: Model, params: Any, x: jax.Array, y: jax.Array,
                 mask: jax.Array) -> jax.Array:
  """The model task's statistics summed over masked examples: `[loss sum,
  correct, accuracy count(, loss count)]` (`fedjax_sim.models.tasks`; for
  classification `[loss sum, correct count, example count]`)."""
  stats = model.task.stats(model.apply(params, x, None), y)
  return jnp.sum(stats * mask[:, None], 0)


def _batched(a: jax.Array, batch_size: int) -> jax.Array:
  """`a` zero-padded along its first axis to whole batches, `[batches, batch_size, ...]`."""
  num_batches = -(-a.shape[0] // batch_size)
  a = jnp.pad(a, [(0, num_batches * batch_size - a.shape[0])] + [(0, 0)] * (a.ndim - 1))
  return a.reshape((num_batches, batch_size) + a.shape[1:])


@functools.partial(jax.jit, static_argnums=(0, 3))
def test_sums(model: Model, params: Any, examples: Mapping[str, jax.Array],
              batch_size: int = 1024) -> jax.Array:
  """`example_sums` of `params` over a centralized `{'x', 'y'}` set."""
  n = examples['y'].shape[0]
  batched = functools.partial(_batched, batch_size=batch_size)
  mask = batched(jnp.ones(n, bool))
  return jax.lax.map(lambda b: example_sums(model, params, *b),
                     (batched(examples['x']), batched(examples['y']), mask)).sum(0)


def evaluate(model: Model, params: Any, examples: Mapping[str, jax.Array],
             batch_size: int = 1024) -> dict[str, float]:
  """Accuracy and mean loss of `params` on a centralized `{'x', 'y'}` set."""
  return test_metrics(test_sums(model, params, examples, batch_size))


def test_metrics(sums: jax.Array) -> dict[str, float]:
  """Accuracy and mean loss from `test_sums`."""
  sums = np.asarray(sums, np.float64)
  return {'loss': float(sums[0] / sums[-1]), 'accuracy': float(sums[1] / sums[2])}


@functools.partial(jax.jit, static_argnums=0)
def member_sums(model: Model, params: Any, test: Mapping[str, jax.Array],
                data: FederatedData) -> tuple[jax.Array, jax.Array]:
  """`test_sums` and `client_sums` of stacked params (a sweep's members,
  leading axis), in one program."""
  return jax.vmap(lambda p: (test_sums(model, p, test), client_sums(model, p, data)))(params)


@functools.partial(jax.jit, static_argnums=(0, 3))
def positive_scores(model: Model, params: Any, x: jax.Array,
                    batch_size: int = 1024) -> jax.Array:
  """`[n]` probability of class 1 (softmax of the logits) for each row of `x`."""
  probs = jax.lax.map(lambda b: jax.nn.softmax(model.apply(params, b, None))[:, 1],
                      _batched(x, batch_size))
  return probs.reshape(-1)[:x.shape[0]]


def binary_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  """Precision, recall and F1 of class 1 (predicted when its probability is
  above 0.5, i.e. the argmax) and the ROC AUC of the scores (the Mann-Whitney
  statistic, ties counted half). Undefined ratios are 0; the AUC is left out
  when the labels hold one class only."""
  scores, labels = np.asarray(scores, np.float64), np.asarray(labels) == 1
  predicted = scores > 0.5
  true_pos = float(np.sum(predicted & labels))
  precision = true_pos / max(float(predicted.sum()), 1.)
  recall = true_pos / max(float(labels.sum()), 1.)
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.
  out = {'precision': precision, 'recall': recall, 'f1': f1}
  positives, negatives = int(labels.sum()), int((~labels).sum())
  if positives and negatives:
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based, ties averaged
    out['roc_auc'] = float((ranks[labels].sum() - positives * (positives + 1) / 2)
                           / (positives * negatives))
  return out


def fairness(accuracy: jax.Array, has_data: jax.Array,
             worst_fraction: float = 0.1) -> dict[str, jax.Array]:
  """Spread of per-client accuracies over the clients with data: their
  (population) standard deviation and the mean of the worst
  `ceil(worst_fraction * clients)` of them."""
  num = jnp.maximum(has_data.sum(), 1)
  mean = jnp.sum(jnp.where(has_data, accuracy, 0.)) / num
  var = jnp.sum(jnp.where(has_data, (accuracy - mean) ** 2, 0.)) / num
  worst = jnp.maximum(jnp.ceil(worst_fraction * has_data.sum()), 1)
  ranked = jnp.sort(jnp.where(has_data, accuracy, jnp.inf))
  in_worst = jnp.arange(ranked.shape[0]) < worst
  return {'std': jnp.sqrt(var),
          'worst10': jnp.sum(jnp.where(in_worst, ranked, 0.)) / worst}


def summarize_clients(sums: jax.Array) -> dict[str, jax.Array]:
  """From per-client `example_sums` rows `[clients, 3 or 4]`: the unweighted
  means of loss and accuracy over clients with examples, and the accuracies'
  fairness (`accuracy_std`, `accuracy_worst10`), in that order."""
  return dict(zip(('loss', 'accuracy', 'accuracy_std', 'accuracy_worst10'),
                  _client_summary(sums)))


@jax.jit
def _client_summary(sums: jax.Array) -> tuple[jax.Array, ...]:
  """`summarize_clients`' values as one program (a tuple keeps their order;
  a jitted dict's keys come back sorted)."""
  has_data = sums[:, -1] > 0
  count = jnp.maximum(sums[:, 2], 1)
  num = jnp.maximum(has_data.sum(), 1)
  accuracy = sums[:, 1] / count
  spread = fairness(accuracy, has_data)
  loss = sums[:, 0] / jnp.maximum(sums[:, -1], 1)
  return (jnp.sum(jnp.where(has_data, loss, 0.)) / num,
          jnp.sum(jnp.where(has_data, accuracy, 0.)) / num, spread['std'], spread['worst10'])


@functools.partial(jax.jit, static_argnums=(0, 3))
def client_sums(model: Model, params: Any, data: FederatedData,
                chunk_size: int = 64) -> jax.Array:
  """`example_sums` of each client's own data, `[num_clients, 3 or 4]`."""
  valid_rows = jnp.arange(data.max_examples)[None, :] < data.counts[:, None]

  def client(x, y, mask):
    return example_sums(model, params, x, y, mask)

  return jax.lax.map(lambda a: client(*a),
                     (data.examples['x'], data.examples['y'], valid_rows),
                     batch_size=chunk_size)


def evaluate_clients(model: Model, params: Any, data: FederatedData,
                     chunk_size: int = 64) -> dict[str, float]:
  """Per-client accuracy/loss on each client's own data, averaged over clients
  (unweighted; clients without examples are skipped), and the fairness of the
  accuracies (`accuracy_std`, `accuracy_worst10`)."""
  sums = client_sums(model, params, data, chunk_size)
  return {k: float(v) for k, v in summarize_clients(sums).items()}


def per_client(sums: jax.Array, counts: np.ndarray) -> dict[str, np.ndarray]:
  """Each client's `examples` (its `counts`), `accuracy` and `loss` (float64;
  NaN for a client without examples) from `client_sums` rows."""
  sums = np.asarray(sums, np.float64)
  with np.errstate(invalid='ignore', divide='ignore'):
    return {'examples': np.asarray(counts, np.int64), 'accuracy': sums[:, 1] / sums[:, 2],
            'loss': sums[:, 0] / sums[:, -1]}
