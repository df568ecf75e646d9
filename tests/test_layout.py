"""`strategy='auto'` and the round's cost: clients run their real steps, and
clients mapped together have similar lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import (ClientResult, FederatedAlgorithm, build_round, init_state,
                             run_local_steps)
from fedjax_sim.core.layout import CPU_CHUNK, Layout, choose_layout
from fedjax_sim.core.schedule import balanced_order, inverse
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.federated_data import from_client_arrays


def test_cpu_choice_follows_model_size():
  assert choose_layout('cpu', 610, 500, lanes_ok=True) == Layout('lanes', CPU_CHUNK)
  assert choose_layout('cpu', 610, 500) == Layout('chunked', CPU_CHUNK)  # e.g. MimeLite
  assert choose_layout('cpu', 159_010, 500, lanes_ok=True) == Layout('sequential', 1)
  assert choose_layout('cpu', 159_010, 500) == Layout('sequential', 1)
  assert choose_layout('cpu', 610, 5) == Layout('sequential', 1)  # too few to chunk


def test_accelerator_chunk_is_what_fits_in_memory():
  # 1 GB free, 10 MB per client: half the memory holds 50 clients.
  assert choose_layout('gpu', 10**6, 1000, 10 * 10**6, 10**9) == Layout('chunked', 50)
  assert choose_layout('gpu', 10**6, 20, 10 * 10**6, 10**9) == Layout('chunked', 20)
  assert choose_layout('gpu', 10**6, 20, 10**12, 10**9) == Layout('chunked', 1)


def test_accelerator_runs_lanes_when_the_clients_do_not_fit_at_once():
  assert choose_layout('gpu', 10**6, 1000, 10 * 10**6, 10**9, lanes_ok=True) == Layout('lanes', 50)
  assert choose_layout('gpu', 10**6, 20, 10 * 10**6, 10**9, lanes_ok=True) == Layout('chunked', 20)
  assert Layout('lanes', 50).describe() == 'lanes:50' and Layout('vmap', 1).describe() == 'vmap'


def device_shares(steps: np.ndarray, devices: int) -> np.ndarray:
  """`[devices, clients / devices]` steps as `balanced_order` deals them,
  checked to be a permutation (with its inverse) and longest first per device."""
  perm = np.asarray(balanced_order(jnp.asarray(steps), devices))
  np.testing.assert_array_equal(np.sort(perm), np.arange(len(steps)))
  np.testing.assert_array_equal(np.asarray(inverse(jnp.asarray(perm)))[perm],
                                np.arange(len(steps)))
  shares = steps[perm].reshape(devices, -1)
  assert all((np.diff(share) <= 0).all() for share in shares)  # longest first
  return shares


@pytest.mark.parametrize('devices', [1, 2, 3])
def test_balanced_order_sorts_each_device_and_balances_totals(devices):
  steps = np.array([3, 40, 0, 7, 7, 1, 12, 5, 9, 2, 30, 4], np.int32)
  totals = device_shares(steps, devices).sum(1)
  assert totals.max() - totals.min() <= steps.max()


def test_balanced_order_evens_out_a_long_head_over_the_laps_after_it():
  # The steps of 50 EMNIST-like writers (benchmarks/peers/workloads.py):
  # one of 52, then 28, 27, 24, ... A fixed snake order (0, 1, 1, 0, ...)
  # gives the devices 295 and 270 steps; each lap's longest client going to
  # the lighter device leaves at most one lap's spread: 287 and 278.
  steps = np.array([52, 28, 27, 24, 22, 20, 18, 18, 17, 16, 16, 15, 13] + [11] * 5 + [10] * 5
                   + [9] * 8 + [8] * 2 + [7] * 3 + [6] * 5 + [5] * 3 + [4] * 3 + [3] * 2 + [2],
                   np.int32)
  shares = device_shares(steps, 2)
  laps = np.sort(steps)[::-1].reshape(-1, 2)
  assert sorted(shares.sum(1)) == [278, 287]
  assert abs(shares.sum(1)[0] - shares.sum(1)[1]) <= (laps[:, 0] - laps[:, 1]).max()


def counting_algorithm(calls: list) -> FederatedAlgorithm:
  """Each local step reports (through a host callback) that it ran."""

  def client_update(server, client_state, batches, key):
    def step(state, batch, mask, step_key):
      jax.debug.callback(lambda: calls.append(1))
      return state + mask.sum(), jnp.float32(0.)

    total, _, steps = run_local_steps(step, jnp.int32(0), batches, key)
    return ClientResult(jnp.float32(0.), jnp.float32(1.),
                        {'examples': total.astype(jnp.float32),
                         'steps': steps.astype(jnp.float32)})

  return FederatedAlgorithm(lambda p: p, client_update, lambda s, a: s)


def counted_round(counts: tuple, batch: int, strategy: str, chunk: int = 1):
  """One round of `counting_algorithm` over clients of `counts` examples (1
  epoch of `batch`): `(iterations of the local step, metrics)`."""
  rng = np.random.default_rng(0)
  data = from_client_arrays([{'x': rng.normal(size=(n, 2)).astype(np.float32),
                              'y': np.zeros(n, np.int32)} for n in counts], 'c')
  calls = []
  round_fn = build_round(counting_algorithm(calls), plan_batches(data.max_examples, batch),
                         strategy, chunk)
  _, metrics = round_fn(init_state(counting_algorithm([]), jnp.float32(0.), len(counts)), data,
                        jnp.arange(len(counts), dtype=jnp.int32), jax.random.PRNGKey(0))
  jax.effects_barrier()
  return len(calls), metrics


def test_chunks_hold_clients_of_similar_length():
  """Chunks of 2 over clients of 12, 1, 1 and 12 steps, sorted: the first
  chunk's two 12-step clients run one at a time (24 step callbacks), the
  rest as the chunk (1, 1): 1 lock-step iteration (the callback runs once per
  iteration of a vmapped chunk). In sampled order the chunks would be
  (12, 1) and (1, 12), 24 iterations."""
  iterations, metrics = counted_round((48, 4, 3, 46), 4, 'chunked', 2)
  np.testing.assert_array_equal(metrics['clients']['steps'], [12, 1, 1, 12])  # sampled order
  np.testing.assert_array_equal(metrics['clients']['examples'], [48, 4, 3, 46])
  assert iterations == 25


def test_sequential_clients_run_only_their_real_steps():
  iterations, _ = counted_round((23, 0, 1, 7), 5, 'sequential')
  assert iterations == 5 + 0 + 1 + 2  # not 4 clients x 5 steps


def test_auto_equals_explicit_layout_and_logs_its_choice_once(ragged_data, tiny_mlp):
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  plan = plan_batches(ragged_data.max_examples, 4)
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)
  logged = []
  auto = build_round(algorithm, plan, log=logged.append)
  state = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
  for r in range(2):
    state, _ = auto(state, ragged_data, ids, jax.random.PRNGKey(r))
  devices = jax.device_count()  # auto maps over every device
  assert logged == [f'engine: auto layout sequential on {devices} cpu device(s), '
                    '5 clients per round']
  explicit = build_round(algorithm, plan, 'sequential')
  other = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
  for r in range(2):
    other, _ = explicit(other, ragged_data, ids, jax.random.PRNGKey(r))
  jax.tree.map(np.testing.assert_array_equal, state, other)


def test_accelerator_auto_sizes_chunks_from_xla_memory_analysis(ragged_data, tiny_mlp,
                                                                monkeypatch):
  """The accelerator path, run on this CPU with the platform and the free
  memory stubbed: the chunk is half the free memory over what XLA's memory
  analysis says one compiled client needs; when not all clients fit, lanes
  of that width."""
  from fedjax_sim.core import layout as layout_lib
  monkeypatch.setattr(layout_lib, 'platform', lambda mesh: 'gpu')
  free = []
  monkeypatch.setattr(layout_lib, '_free_bytes', lambda device: free[0])
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  plan = plan_batches(ragged_data.max_examples, 4)
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  ids = jnp.array([3, 0, 2, 5, 1], jnp.int32)
  results = []
  for free_bytes in (0, 10**12):
    free[:] = [free_bytes]
    logged = []
    state = init_state(algorithm, jax.tree.map(jnp.copy, params), 6)
    state, _ = build_round(algorithm, plan, log=logged.append)(
        state, ragged_data, ids, jax.random.PRNGKey(0))
    results.append(state)
    assert logged[0].startswith('engine: auto layout ' + ('chunked:5 ' if free_bytes
                                                          else 'lanes:1 '))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), *results)


def test_accelerator_auto_falls_back_to_chunks_without_lanes(ragged_data, tiny_mlp, monkeypatch):
  """MimeLite's clients also make a full pass over their data: no lanes."""
  from fedjax_sim.algorithms.mimelite import mimelite
  from fedjax_sim.core import layout as layout_lib
  monkeypatch.setattr(layout_lib, 'platform', lambda mesh: 'gpu')
  monkeypatch.setattr(layout_lib, '_free_bytes', lambda device: 0)
  algorithm = mimelite(tiny_mlp, 0.1, 0.9, optax.sgd(1.))
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  logged = []
  build_round(algorithm, plan_batches(ragged_data.max_examples, 4), log=logged.append)(
      init_state(algorithm, params, 6), ragged_data, jnp.arange(5, dtype=jnp.int32),
      jax.random.PRNGKey(0))
  assert logged[0].startswith('engine: auto layout chunked:1 ')


def test_cpu_auto_steps_small_models_in_lanes_or_chunks(tiny_mlp):
  """A small model with 16 or more clients per device: lanes of 8 when the
  client update can run in them (FedAvg), chunks of 8 when not (MimeLite)."""
  from fedjax_sim.algorithms.mimelite import mimelite
  rng = np.random.default_rng(0)
  data = from_client_arrays([{'x': rng.normal(size=(n, 6)).astype(np.float32),
                              'y': rng.integers(0, 4, n).astype(np.int32)}
                             for n in rng.integers(0, 30, 40)], 'c')
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  plan = plan_batches(data.max_examples, 4)
  ids = jnp.arange(16 * jax.device_count(), dtype=jnp.int32)
  for algorithm, layout in [(fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.)), 'lanes:8'),
                            (mimelite(tiny_mlp, 0.1, 0.9, optax.sgd(1.)), 'chunked:8')]:
    logged = []
    build_round(algorithm, plan, log=logged.append)(
        init_state(algorithm, jax.tree.map(jnp.copy, params), 40), data, ids,
        jax.random.PRNGKey(0))
    assert logged[0].startswith(f'engine: auto layout {layout} ')
