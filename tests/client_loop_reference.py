"""Plain per-client Python/NumPy building blocks for algorithm reference tests.

Same data and batch order as the engine (`client_key`, `client_batches`), but
every step is an explicit loop iteration and every update NumPy float64
arithmetic; JAX only differentiates the loss of one batch.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.core import client_key, step_key
from fedjax_sim.data.batching import client_batches
from fedjax_sim.models import masked_loss


def to_numpy(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def loss_and_grad(model, params, batch, mask, key=None):
  """Loss and gradient (float64 NumPy) of one batch at NumPy `params`."""
  params32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
  loss, grads = jax.value_and_grad(masked_loss, argnums=1)(
      model, params32, batch, jnp.asarray(mask), key)
  return float(loss), to_numpy(grads)


def real_steps(data, cid: int, clients_key, plan):
  """`[(batch, mask, step_key)]` of the client's real (not all-padding) steps."""
  x, y = np.asarray(data.examples['x']), np.asarray(data.examples['y'])
  batch_key, train_key, _ = client_key(clients_key, cid)
  idx, mask = client_batches(batch_key, int(data.counts[cid]), plan)
  idx, mask = np.asarray(idx), np.asarray(mask)
  return [({'x': jnp.asarray(x[cid, idx[s]]), 'y': jnp.asarray(y[cid, idx[s]])},
           mask[s], step_key(train_key, s)) for s in range(plan.num_steps) if mask[s].any()]


def local_sgd(model, params, steps, lr: float,
              direction: Callable = lambda grads, w: grads):
  """`w -= lr * direction(grad, w)` over `steps`; returns (w, mean loss)."""
  w, losses = to_numpy(params), []
  for batch, mask, key in steps:
    loss, grads = loss_and_grad(model, w, batch, mask, key)
    w = jax.tree.map(lambda a, d: a - lr * d, w, direction(grads, w))
    losses.append(loss)
  return w, (np.mean(losses) if losses else 0.)


def weighted_mean(trees, weights):
  w = np.asarray(weights, np.float64)
  return jax.tree.map(lambda *leaves: sum(wi * l for wi, l in zip(w, leaves)) / w.sum(),
                      *trees)


def assert_trees_close(actual, expected, tol=1e-5):
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=tol, rtol=tol),
               actual, expected)
