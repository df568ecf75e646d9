"""The one-program round equals a plain per-client Python loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import (build_round, client_key, init_state, round_keys, run_local_steps,
                             step_key)
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import block_size
from fedjax_sim.data.batching import client_batches, client_stream, plan_batches
from fedjax_sim.models import masked_loss


def reference_round(model, params, server_state, data, ids, key, plan,
                    client_opt, server_opt, weighting, budgets=None):
  """FedAvg written plainly: a Python loop over clients and over steps; with
  `budgets`, client k stops after `budgets[k]` real steps."""
  x, y, counts = (np.asarray(data.examples['x']), np.asarray(data.examples['y']),
                  np.asarray(data.counts))
  deltas, weights, losses, norms = [], [], [], []
  clients_key, _ = round_keys(key)
  for k, cid in enumerate(np.asarray(ids)):
    budget = np.inf if budgets is None else budgets[k]
    batch_key, train_key, _ = client_key(clients_key, cid)
    idx, mask = client_batches(batch_key, counts[cid], plan)
    idx, mask = np.asarray(idx), np.asarray(mask)
    local, opt_state, step_losses = params, client_opt.init(params), []
    for s in range(plan.num_steps):
      if not mask[s].any() or len(step_losses) >= budget:
        continue
      batch = {'x': jnp.asarray(x[cid, idx[s]]), 'y': jnp.asarray(y[cid, idx[s]])}
      loss, grads = jax.value_and_grad(masked_loss, argnums=1)(
          model, local, batch, jnp.asarray(mask[s]), step_key(train_key, s))
      updates, opt_state = client_opt.update(grads, opt_state, local)
      local = optax.apply_updates(local, updates)
      step_losses.append(float(loss))
    deltas.append(jax.tree.map(lambda a, b: np.asarray(a, np.float64) - np.asarray(b),
                               local, params))
    norms.append(np.sqrt(sum(np.sum(d ** 2) for d in jax.tree.leaves(deltas[-1]))))
    # A client without examples has weight 0 under either weighting.
    weights.append(float(counts[cid]) if weighting == 'num_examples'
                   else float(counts[cid] > 0))
    losses.append(np.mean(step_losses) if step_losses else 0.)
  w = np.array(weights)
  mean_delta = jax.tree.map(lambda *d: sum(wi * di for wi, di in zip(w, d)) / w.sum(),
                            *deltas)
  grads = jax.tree.map(lambda d: -jnp.asarray(d, jnp.float32), mean_delta)
  updates, opt_state = server_opt.update(grads, server_state.opt_state, params)
  return (optax.apply_updates(params, updates), opt_state,
          float(np.dot(w, losses) / w.sum()), losses, norms)


@pytest.mark.parametrize('strategy,chunk_size', [('vmap', 1), ('chunked', 4),
                                                 ('sequential', 1), ('lanes', 2)])
@pytest.mark.parametrize('epochs,steps,weighting', [(2, 0, 'num_examples'),
                                                     (1, 3, 'uniform')])
def test_round_matches_python_loop(ragged_data, tiny_mlp, strategy, chunk_size,
                                   epochs, steps, weighting):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  client_opt = optax.adam(0.05)
  server_opt = optax.sgd(0.7, momentum=0.9)
  algorithm = fedavg(tiny_mlp, client_opt, server_opt, weighting)
  plan = plan_batches(ragged_data.max_examples, 4, epochs, steps)
  round_fn = build_round(algorithm, plan, strategy, chunk_size)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)  # ragged, includes an empty client
  key = jax.random.PRNGKey(42)
  # Two rounds, so the server momentum state is exercised too.
  ref_state = algorithm.init(params)
  # The round donates its state.
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  for r in range(2):
    round_key = jax.random.fold_in(key, r)
    ref_params, ref_opt, ref_loss, ref_losses, ref_norms = reference_round(
        tiny_mlp, ref_state.params, ref_state, ragged_data, ids, round_key, plan,
        client_opt, server_opt, weighting)
    ref_state = type(ref_state)(ref_params, ref_opt)
    state, metrics = round_fn(state, ragged_data, ids, round_key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                 state.server.params, ref_state.params)
    np.testing.assert_allclose(metrics['train_loss'], ref_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics['clients']['train_loss'], ref_losses,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics['clients']['update_norm'], ref_norms,
                               rtol=1e-5, atol=1e-6)


def test_strategies_agree_with_chunk_not_dividing_clients(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  plan = plan_batches(ragged_data.max_examples, 5)
  ids = jnp.array([5, 4, 3, 1, 0], jnp.int32)
  results = []
  for strategy, chunk in [('vmap', 1), ('chunked', 2), ('chunked', 3), ('sequential', 1),
                          ('lanes', 3)]:
    fresh = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)  # donated
    state, metrics = build_round(algorithm, plan, strategy, chunk)(
        fresh, ragged_data, ids, jax.random.PRNGKey(7))
    assert metrics['clients']['weight'].shape == (5,)
    results.append(state.server.params)
  for other in results[1:]:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), results[0], other)


@pytest.mark.parametrize('batch,wanted', [(4, ((23, 12), (5, 3), (0, 0))),
                                          (5, ((23, 10), (7, 3), (5, 2), (0, 0)))])
def test_local_loop_runs_only_the_clients_real_steps(ragged_data, batch, wanted):
  """The local loop's trip count is the client's own: 23 examples, 2 epochs
  of batch 4 is 12 steps (the plan allows 12 for the largest client: blocks
  of 6), 5 examples is 3 steps, an empty client none; of batch 5, 10 steps
  in blocks of 5, and 7 examples 3 steps; the last step's mask holds the
  remainder."""
  plan = plan_batches(ragged_data.max_examples, batch, epochs=2)
  assert block_size(plan.num_steps) == {4: 6, 5: 5}[batch]
  for count, want_steps in wanted:
    batches = ClientBatches(ragged_data.examples, jnp.int32(3), jnp.int32(count),
                            client_stream(jax.random.PRNGKey(0), count, plan))

    def step(state, batch, mask, key):
      return state + 1., mask.sum()

    state, seen, steps = jax.jit(lambda b: run_local_steps(step, jnp.float32(0.), b,
                                                           jax.random.PRNGKey(1)))(batches)
    assert int(steps) == want_steps and float(state) == want_steps
    assert int(seen) == 2 * count  # every real example twice, no padding


def test_blocks_divide_the_plans_steps_where_they_can():
  assert [block_size(n) for n in (1, 7, 8, 9, 10, 12, 16, 20, 144)] == [
      1, 7, 8, 8, 5, 6, 8, 5, 8]


def test_vmapped_clients_keep_their_own_final_state(ragged_data):
  """Under vmap the clients run in lock-step until the longest is done; a
  finished client's state is not touched by the extra iterations."""
  plan = plan_batches(ragged_data.max_examples, 4)
  counts = jnp.array([23, 1, 0, 7], jnp.int32)

  def client(count):
    batches = ClientBatches(ragged_data.examples, jnp.int32(3), count,
                            client_stream(jax.random.PRNGKey(2), count, plan))
    step = lambda state, batch, mask, key: (state * 2. + batch['x'][0, 0], 0.)  # noqa: E731
    return run_local_steps(step, jnp.float32(1.), batches, jax.random.PRNGKey(0))[0]

  together = jax.vmap(client)(counts)
  alone = [client(c) for c in counts]
  np.testing.assert_array_equal(together, np.array(alone))


@pytest.mark.parametrize('strategy,chunk_size', [('vmap', 1), ('chunked', 2), ('sequential', 1)])
def test_packed_data_gives_the_padded_round(ragged_data, tiny_mlp, strategy, chunk_size):
  from fedjax_sim.data.packed import pack
  packed = pack(ragged_data)
  counts = np.asarray(ragged_data.counts)
  assert packed.examples['x'].shape[0] == counts.sum() + 1  # no padding (one spare row)
  for c, n in enumerate(counts):
    np.testing.assert_array_equal(
        packed.examples['x'][packed.offsets[c]:packed.offsets[c] + n],
        np.asarray(ragged_data.examples['x'])[c, :n])
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = fedavg(tiny_mlp, optax.adam(0.05), optax.sgd(1.))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4, 2),
                         strategy, chunk_size)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)
  outs = []
  for data in (ragged_data, packed):
    state = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
    for r in range(2):
      state, metrics = round_fn(state, data, ids, jax.random.PRNGKey(r))
    outs.append((state, metrics))
  jax.tree.map(np.testing.assert_array_equal, *outs)


def test_rounds_read_padded_data_unless_padding_is_large(ragged_data, monkeypatch):
  from fedjax_sim.data import packed
  assert packed.for_round(ragged_data) is ragged_data
  monkeypatch.setattr(packed, 'PADDING_LIMIT', 0)
  assert isinstance(packed.for_round(ragged_data), packed.PackedData)


# Every layout, each with one of two step plans (epochs, or fixed steps).
@pytest.mark.parametrize('strategy,chunk_size,epochs,steps', [
    ('vmap', 1, 2, 0), ('chunked', 2, 1, 3), ('sequential', 1, 1, 3), ('auto', 1, 2, 0)])
def test_step_budgets_stop_each_client_as_a_loop_would(ragged_data, tiny_mlp, strategy,
                                                       chunk_size, epochs, steps):
  # Partial work: budgets of 0, 1, fewer than and more than a client's real
  # steps (the empty client 0 has none); one program for any budgets.
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  client_opt, server_opt = optax.sgd(0.1, momentum=0.5), optax.sgd(1.)
  algorithm = fedavg(tiny_mlp, client_opt, server_opt, 'num_examples')
  plan = plan_batches(ragged_data.max_examples, 4, epochs, steps)
  round_fn = build_round(algorithm, plan, strategy, chunk_size)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  ref_state = algorithm.init(params)
  for r, budgets in enumerate([[1, 0, 2, 100, 0], [0, 5, 1, 2, 3]]):
    round_key = jax.random.fold_in(jax.random.PRNGKey(7), r)
    ref_params, ref_opt, _, ref_losses, ref_norms = reference_round(
        tiny_mlp, ref_state.params, ref_state, ragged_data, ids, round_key, plan,
        client_opt, server_opt, 'num_examples', budgets)
    ref_state = type(ref_state)(ref_params, ref_opt)
    state, metrics = round_fn(state, ragged_data, ids, round_key,
                              step_budgets=jnp.asarray(budgets, jnp.int32))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                 state.server.params, ref_state.params)
    np.testing.assert_allclose(metrics['clients']['train_loss'], ref_losses, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(metrics['clients']['update_norm'], ref_norms, rtol=1e-4,
                               atol=1e-6)
  assert round_fn._cache_size() == 1


@pytest.mark.parametrize('strategy', ['chunked', 'sequential'])
def test_clients_that_did_not_report_are_left_out(ragged_data, tiny_mlp, strategy):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  client_opt, server_opt = optax.sgd(0.1), optax.sgd(1.)
  algorithm = fedavg(tiny_mlp, client_opt, server_opt, 'num_examples')
  plan = plan_batches(ragged_data.max_examples, 4, 1, 0)
  round_fn = build_round(algorithm, plan, strategy, 2)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)
  reported = jnp.array([True, False, False, True, True])
  key = jax.random.PRNGKey(3)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), ragged_data.num_clients)
  state, metrics = round_fn(state, ragged_data, ids, key, reported=reported,
                            step_budgets=jnp.where(reported, 1000, 0).astype(jnp.int32))
  # FedAvg over the reporting clients alone (client keys follow the ids).
  ref_loop = reference_round(tiny_mlp, params, algorithm.init(params), ragged_data,
                             ids[reported], key, plan, client_opt, server_opt,
                             'num_examples')[0]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
               state.server.params, ref_loop)
  np.testing.assert_array_equal(np.asarray(metrics['clients']['weight']) > 0,
                                np.asarray(reported) & (np.asarray(ragged_data.counts)[ids] > 0))
