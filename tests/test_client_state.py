"""Per-client persistent state and stacked aggregation in the engine."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fedjax_sim.core import (Aggregator, ClientResult, FederatedAlgorithm, build_round,
                             init_state)
from fedjax_sim.core.aggregator import as_aggregate, keep, no_state
from fedjax_sim.data.batching import plan_batches


def counting_algorithm(stacked: bool) -> FederatedAlgorithm:
  """Clients count their participations and send `count + visits`; the
  aggregate is the max of the updates (stacked) or their weighted mean."""

  def client_update(server, visits, batches, key):
    del key
    update = batches.count.astype(jnp.float32) + visits
    return ClientResult(update, jnp.float32(1.), {}, visits + 1.)

  def combine(reduced, state, key):
    del key
    if stacked:
      return as_aggregate(jnp.max(reduced.updates), {}), state, {'seen': reduced.weights.sum()}
    return reduced, state, {}

  return FederatedAlgorithm(
      init=lambda params: params,
      client_update=client_update,
      server_update=lambda server, aggregate: aggregate,
      client_init=lambda params: jnp.float32(0.),
      aggregator=Aggregator(no_state, keep, combine, stacked))


@pytest.mark.parametrize('stacked', [False, True])
@pytest.mark.parametrize('strategy,chunk', [('vmap', 1), ('chunked', 2), ('sequential', 1)])
def test_only_sampled_clients_state_changes(ragged_data, stacked, strategy, chunk):
  algorithm = counting_algorithm(stacked)
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         strategy, chunk)
  state = init_state(algorithm, jnp.float32(0.), ragged_data.num_clients)
  visits = np.zeros(ragged_data.num_clients)
  counts = np.asarray(ragged_data.counts, np.float64)
  for ids in ([3, 0, 5], [5, 1, 2], [5, 3, 4]):  # 3 clients: chunk 2 pads one
    updates = counts[ids] + visits[ids]
    state, metrics = round_fn(state, ragged_data, jnp.array(ids, jnp.int32),
                              jax.random.PRNGKey(0))
    visits[ids] += 1
    np.testing.assert_array_equal(state.clients, visits)
    want = updates.max() if stacked else updates.mean()
    np.testing.assert_allclose(state.server, want, rtol=1e-6)
    if stacked:
      assert metrics['seen'] == 3.  # the padded client is not among the stacked


def test_round_on_gathered_rows_equals_round_on_full_data(ragged_data, tiny_mlp):
  """Streamed data sets: a round on only the sampled clients' rows (data_rows)
  equals the round on the whole data set, client state included."""
  import optax

  from fedjax_sim.algorithms.scaffold import scaffold
  from fedjax_sim.data.federated_data import FederatedData

  algorithm = scaffold(tiny_mlp, 0.1, optax.sgd(1.), clients_per_round=3,
                       num_clients=ragged_data.num_clients)
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4, epochs=2))
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  full = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
  part = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
  for r, ids in enumerate(([3, 0, 5], [5, 1, 3])):
    ids, key = np.array(ids), jax.random.PRNGKey(r)
    full, _ = round_fn(full, ragged_data, jnp.asarray(ids, jnp.int32), key)
    gathered = FederatedData({k: v[ids] for k, v in ragged_data.examples.items()},
                             ragged_data.counts[ids])
    part, _ = round_fn(part, gathered, jnp.asarray(ids, jnp.int32), key,
                       jnp.arange(3, dtype=jnp.int32))
    jax.tree.map(np.testing.assert_array_equal, full, part)
