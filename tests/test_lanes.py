"""`lanes`: clients in lanes that move on mid-loop equal one client at a time,
and a lane's loop runs its clients' real steps back to back."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import default
from fedjax_sim.algorithms import fedavg
from fedjax_sim.algorithms.registry import algorithm_names
from fedjax_sim.config.algorithms import build_algorithm
from fedjax_sim.aggregators.median import median
from fedjax_sim.core import (ClientResult, FederatedAlgorithm, build_round, init_state,
                             make_round, run_local_steps, train_locally)
from fedjax_sim.core.lane_loops import LanesUnsupported, prefetches
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.packed import pack
from fedjax_sim.models import masked_loss
from test_layout import counted_round

NO_LANES = {'ditto': 'more than one local loop', 'mimelite': 'full pass over their data',
            'qfedavg': 'full pass over their data'}


def configured(name, model, num_clients):
  config = default.get_config()
  config.algorithm = name
  config.personalization.client_test_fraction = 0.2  # ditto's requirement
  if name == 'qfedavg':
    config.client.optimizer.learning_rate = 0.2
  return build_algorithm(config, model, num_clients)


def two_rounds(algorithm, data, plan, strategy, chunk, params, **kwargs):
  round_fn = build_round(algorithm, plan, strategy, chunk)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), data.num_clients)
  history = []
  for r, ids in enumerate([[3, 0, 2, 5, 1], [1, 3, 4, 2, 5]]):  # 23, 1, 0, 12, 7 examples
    state, metrics = round_fn(state, data, jnp.array(ids, jnp.int32),
                              jax.random.PRNGKey(r), **kwargs)
    history.append(metrics)
  return state, history


@pytest.mark.parametrize('name', algorithm_names())
@pytest.mark.parametrize('epochs,steps', [(2, 0), (1, 3)])
def test_every_algorithm_in_lanes_equals_one_client_at_a_time(name, epochs, steps,
                                                              ragged_data, tiny_mlp):
  """Server state, every client's persistent state and every client's
  metrics, over two rounds (a client sampled twice), with 0-, 1- and
  max-size clients; or a one-line error for the algorithms whose clients do
  more than one local loop."""
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = configured(name, tiny_mlp, ragged_data.num_clients)
  plan = plan_batches(ragged_data.max_examples, 4, epochs, steps)
  if name in NO_LANES:
    with pytest.raises(LanesUnsupported, match=f"engine.strategy='lanes'.*{NO_LANES[name]}"):
      two_rounds(algorithm, ragged_data, plan, 'lanes', 2, params)
    return
  expected = two_rounds(algorithm, ragged_data, plan, 'sequential', 1, params)
  got = two_rounds(algorithm, ragged_data, plan, 'lanes', 2 if steps else 3, params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               got, expected)


def test_lanes_with_budgets_reports_and_packed_data(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = configured('scaffold', tiny_mlp, ragged_data.num_clients)
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  partial = dict(step_budgets=jnp.array([2, 5, 0, 1, 9], jnp.int32),
                 reported=jnp.array([True, True, True, False, True]))
  expected = two_rounds(algorithm, ragged_data, plan, 'sequential', 1, params, **partial)
  got = two_rounds(algorithm, pack(ragged_data), plan, 'lanes', 2, params, **partial)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               got, expected)


def test_prefetched_lanes_with_budgets_reports_and_packed_data(ragged_data, tiny_mlp):
  """A fixed-step plan: lanes prefetch each client's steps (on a CPU), with
  budgets that stop clients early, a client not reporting and packed data."""
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = configured('scaffold', tiny_mlp, ragged_data.num_clients)
  plan = plan_batches(ragged_data.max_examples, 4, steps=5)
  assert prefetches(plan) and jax.default_backend() == 'cpu'
  partial = dict(step_budgets=jnp.array([2, 5, 0, 1, 9], jnp.int32),
                 reported=jnp.array([True, True, True, False, True]))
  expected = two_rounds(algorithm, ragged_data, plan, 'sequential', 1, params, **partial)
  got = two_rounds(algorithm, pack(ragged_data), plan, 'lanes', 2, params, **partial)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               got, expected)


def test_lanes_with_a_stacked_aggregator_and_clients_without_a_loop(ragged_data, tiny_mlp):
  """Median of the updates (the aggregator sees every client's update), and a
  client update without a local loop (lanes run it in chunks)."""
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  by_median = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))._replace(aggregator=median())
  expected = two_rounds(by_median, ragged_data, plan, 'sequential', 1, params)
  got = two_rounds(by_median, ragged_data, plan, 'lanes', 2, params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               got, expected)
  no_loop = FederatedAlgorithm(
      lambda p: p, lambda server, client_state, batches, key: ClientResult(
          jnp.float32(batches.count), jnp.float32(1.), {}), lambda s, a: s + a)
  for strategy in ('sequential', 'lanes'):
    state, _ = build_round(no_loop, plan, strategy, 2)(
        init_state(no_loop, jnp.float32(0.), 6), ragged_data, jnp.arange(5, dtype=jnp.int32),
        jax.random.PRNGKey(0))
    assert float(state.server) == pytest.approx(np.mean([1, 7, 0, 23, 5]))


def test_a_lane_runs_its_clients_back_to_back():
  """Two lanes over clients of 12, 1, 1, 12, 0 and 2 steps, taken longest
  first: lane 0 runs 12 + 2 + 0 steps (the empty client costs one
  iteration), lane 1 runs 12 + 1 + 1, then one iteration finds the queue
  empty: 16 iterations of a 2-wide step (the callback runs once per
  iteration) for 28 real steps. One `vmap` runs 12 iterations of a 6-wide
  step (72 step evaluations)."""
  iterations, metrics = counted_round((48, 4, 3, 46, 0, 8), 4, 'lanes', 2)
  np.testing.assert_array_equal(metrics['clients']['steps'], [12, 1, 1, 12, 0, 2])
  np.testing.assert_array_equal(metrics['clients']['examples'], [48, 4, 3, 46, 0, 8])
  assert iterations == 16


def test_a_free_lane_takes_the_next_client_behind_a_long_head():
  """Two lanes over one 20-step client and eleven of 2 steps: lane 1 runs
  ten short clients while lane 0 runs the long one, then lane 0 takes the
  last: 22 iterations of steps and one that finds the queue empty. Queues
  dealt per lane in a snake order gave lane 0 the long client and five
  short ones (31 iterations)."""
  iterations, metrics = counted_round((80,) + (8,) * 11, 4, 'lanes', 2)
  np.testing.assert_array_equal(metrics['clients']['steps'], [20] + [2] * 11)
  assert iterations == 23


def test_lanes_compile_once_across_rounds_of_different_sizes(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4), 'lanes', 2)
  state = init_state(algorithm, params, 6)
  for ids in ([3, 5, 1], [2, 0, 4], [0, 2, 4]):  # 23+12+7, 0+1+5, 1+0+5 examples
    state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), jax.random.PRNGKey(0))
  assert round_fn._cache_size() == 1


def test_differentiable_rounds_refuse_lanes(ragged_data, tiny_mlp):
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  round_fn = make_round(algorithm, plan_batches(ragged_data.max_examples, 4), 'lanes', 2,
                        differentiable=True)
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  with pytest.raises(LanesUnsupported, match='differentiable rounds'):
    round_fn(init_state(algorithm, params, 6), ragged_data, jnp.arange(3, dtype=jnp.int32),
             jax.random.PRNGKey(0))


def test_a_loop_in_a_jitted_helper_is_refused_and_leaves_no_wrong_cache(ragged_data, tiny_mlp):
  """A client update whose loop runs inside its own `jax.jit` cannot be split;
  the refusal happens while the helper is traced, so the helper's cache holds
  no loop-less program that a later `sequential` round would reuse."""

  @jax.jit
  def local_train(params, batches, key):
    loss = lambda p, batch, mask, k: masked_loss(tiny_mlp, p, batch, mask, k)  # noqa: E731
    return train_locally(loss, optax.sgd(0.1), params, batches, key)

  def client_update(server, client_state, batches, key):
    local = local_train(server, batches, key)
    return ClientResult(jax.tree.map(jnp.subtract, local.params, server), jnp.float32(1.),
                        {'train_loss': local.loss})

  algorithm = FederatedAlgorithm(lambda p: p, client_update,
                                 lambda s, a: jax.tree.map(jnp.add, s, a))
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  plan = plan_batches(ragged_data.max_examples, 4)
  ids = jnp.array([3, 0, 5], jnp.int32)
  with pytest.raises(LanesUnsupported, match='inside a transformation of its own'):
    build_round(algorithm, plan, 'lanes', 2)(init_state(algorithm, params, 6), ragged_data,
                                             ids, jax.random.PRNGKey(0))
  _, metrics = build_round(algorithm, plan, 'sequential')(
      init_state(algorithm, params, 6), ragged_data, ids, jax.random.PRNGKey(0))
  assert (np.asarray(metrics['clients']['train_loss']) > 0).all()


def test_constants_are_not_copied_per_lane_and_bool_sums_work(ragged_data):
  """A concrete table the step closes over stays one constant (not a
  `[lanes, ...]` copy in the loop state); a bool step output sums as under
  `sequential`."""
  table = jnp.asarray(np.random.default_rng(0).normal(size=(300, 300)), jnp.float32)

  def client_update(server, client_state, batches, key):
    def step(w, batch, mask, key):
      return w + table[:6, 0] @ batch['x'][0] * 1e-3, mask.any()

    w, seen, steps = run_local_steps(step, server, batches, key)
    return ClientResult(w - server, jnp.float32(1.), {'any_step': seen.astype(jnp.float32)})

  algorithm = FederatedAlgorithm(lambda p: p, client_update, lambda s, a: s + a)
  plan = plan_batches(ragged_data.max_examples, 4)
  ids = jnp.array([3, 0, 2, 5], jnp.int32)
  results = []
  for strategy in ('sequential', 'lanes'):
    round_fn = build_round(algorithm, plan, strategy, 4)
    hlo = round_fn.lower(init_state(algorithm, jnp.float32(0.), 6), ragged_data, ids,
                         jax.random.PRNGKey(0)).as_text()
    assert 'f32[4,300,300]' not in hlo
    results.append(round_fn(init_state(algorithm, jnp.float32(0.), 6), ragged_data, ids,
                            jax.random.PRNGKey(0)))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), *results)
  np.testing.assert_array_equal(results[1][1]['clients']['any_step'], [1, 1, 0, 1])
