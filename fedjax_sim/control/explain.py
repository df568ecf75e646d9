"""Why the model predicted what it did: the features that moved each row's
predicted class most, as the seed app's Predict page shows them.

A feature's contribution is gradient x input on the standardized features
(the value's distance from its training mean, in training standard
deviations): how much it raised or lowered the predicted class's logit
compared with a row at the training mean. For the logistic model the logit
is linear in these values, so this is exact (the logit is the bias plus the
contributions); for other models it is the first-order estimate.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.export import ExportedModel

TOP = 3  # features shown per row
EXACT = 'exact for the logistic model: weight x standardized value'
ESTIMATE = 'gradient x input, a first-order estimate for this model'


def contributions(exported: ExportedModel, rows: np.ndarray, classes: np.ndarray
                  ) -> np.ndarray:
  """`[n, features]` contributions to the logit of each row's class `classes`."""
  x = exported.columns.standardize(np.asarray(rows, np.float32).reshape(len(rows), -1))

  def logit(one: jax.Array, c: jax.Array) -> jax.Array:
    return exported.model.apply(exported.params, one[None], None)[0, c].astype(jnp.float32)

  grads = jax.vmap(jax.grad(logit))(jnp.asarray(x), jnp.asarray(classes))
  return np.asarray(grads, np.float64) * x


def top_features(values: np.ndarray, names: tuple[str, ...], top: int = TOP
                 ) -> list[list[dict[str, Any]]]:
  """Per row, the `top` features of largest |contribution|, largest first."""
  order = np.argsort(-np.abs(values), axis=1, kind='stable')[:, :top]
  return [[{'feature': names[j], 'contribution': float(row[j])} for j in picks]
          for row, picks in zip(values, order)]


def explain(exported: ExportedModel, rows: np.ndarray, probabilities: np.ndarray
            ) -> dict[str, Any]:
  """The predicted class of each row, and for table data its top features
  and how they were attributed (`None` for other data)."""
  classes = np.argmax(probabilities, axis=1)
  out: dict[str, Any] = {'predicted': [exported.class_names[c] for c in classes],
                         'top_features': None, 'attribution': None}
  if exported.columns is not None:
    values = contributions(exported, rows, classes)
    out['top_features'] = top_features(values, tuple(exported.columns.feature_names))
    out['attribution'] = EXACT if exported.config.get('model', {}).get(
        'name') == 'logistic' else ESTIMATE
  return out
