"""Hypergradient descent through whole federated rounds.

An episode is R rounds of FedAvg-like training from fixed initial
parameters; its loss is the model's loss on held-out clients afterwards.
`jax.grad` of that loss (`make_round(differentiable=True)`, `run_rounds`)
with respect to hyper-parameters the algorithm is built from (learning
rates, per-client aggregation weights, ...) drives an optax optimizer over
them, one fresh episode (new sampled clients and keys) per step.
`scripts/hypergrad.py` is the worked example (`docs/differentiable.md`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.round import make_round, run_rounds
from fedjax_sim.core.state import init_state
from fedjax_sim.data.batching import BatchPlan
from fedjax_sim.data.federated_data import FederatedData, pooled
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.models.model import Model, masked_loss

PyTree = Any
Hyper = dict[str, jax.Array]
BuildAlgorithm = Callable[[Hyper], FederatedAlgorithm]


class Episode(NamedTuple):
  """Which clients train in each of R rounds (`[R, K]`), with which keys (`[R]`)."""

  client_ids: jax.Array
  keys: jax.Array


def hold_out(data: FederatedData, num_held_out: int) -> tuple[FederatedData, dict[str, np.ndarray]]:
  """`(training clients, validation set)`: the last `num_held_out` clients'
  real examples, pooled, validate; the others train."""
  keep = data.num_clients - num_held_out
  part = lambda rows: FederatedData({k: v[rows] for k, v in data.examples.items()},  # noqa
                                    data.counts[rows])
  held_out = pooled(part(slice(keep, None)))
  count = int(held_out.counts[0])
  return part(slice(None, keep)), {k: v[0, :count] for k, v in held_out.examples.items()}


def episode(key: jax.Array, num_clients: int, clients_per_round: int, rounds: int) -> Episode:
  """R rounds of `clients_per_round` clients sampled uniformly, and round keys."""
  keys = jax.random.split(key, rounds)
  return Episode(jax.vmap(lambda k: sample_clients(k, num_clients, clients_per_round))(keys),
                 keys)


def train_episode(build: BuildAlgorithm, plan: BatchPlan, data: FederatedData,
                  strategy: str = 'sequential', differentiable: bool = False,
                  remat: str = 'client') -> Callable[[PyTree, Hyper, Episode], PyTree]:
  """`(params, hyper, episode) -> final server params`, pure (jit or
  differentiate it); `hyper` may be traced; `remat` as in `make_round`."""

  def final_params(params: PyTree, hyper: Hyper, ep: Episode) -> PyTree:
    algorithm = build(hyper)
    round_fn = make_round(algorithm, plan, strategy, differentiable=differentiable,
                          remat=remat, log=lambda line: None)
    state = init_state(algorithm, params, data.num_clients)
    state, _ = run_rounds(round_fn, state, data, ep.client_ids, ep.keys)
    return state.server.params

  return final_params


def validation_loss(model: Model, valid: dict[str, jax.Array]) -> Callable[[PyTree], jax.Array]:
  """`params -> mean loss on valid` (differentiable)."""
  mask = jnp.ones(len(valid['y']), bool)
  return lambda params: masked_loss(model, params, valid, mask)


def descend(loss_and_grad: Callable[[Hyper, Episode], tuple[jax.Array, Hyper]],
            hyper: Hyper, episodes: Callable[[int], Episode], steps: int,
            optimizer: optax.GradientTransformation) -> tuple[Hyper, list[float]]:
  """`steps` optimizer steps on `hyper` along the hypergradient of episode
  `episodes(t)`; returns the final `hyper` and the episodes' losses (each
  before its step)."""
  opt_state, losses = optimizer.init(hyper), []
  for t in range(steps):
    loss, grads = loss_and_grad(hyper, episodes(t))
    updates, opt_state = optimizer.update(grads, opt_state, hyper)
    hyper = optax.apply_updates(hyper, updates)
    losses.append(float(loss))
  return hyper, losses
