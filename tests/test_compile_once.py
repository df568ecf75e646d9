"""A round compiles once: new round keys or sampled clients reuse the program."""

import jax
import jax.numpy as jnp
import optax
from jax import monitoring

from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import build_round, init_state
from fedjax_sim.data import plan_batches, sample_clients

COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'


def test_round_compiles_once_across_rounds(ragged_data, tiny_mlp):
  compiles = []

  def listener(event, duration, **kwargs):
    if event == COMPILE_EVENT:
      compiles.append(event)

  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.adam(0.01))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         'chunked', 2)
  state = init_state(algorithm, tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6))),
                     ragged_data.num_clients)
  data = jax.device_put(ragged_data)
  sample = jax.jit(lambda k: sample_clients(k, ragged_data.num_clients, 3))
  # Warm up: the first round compiles the round (and small helper programs).
  state, _ = round_fn(state, data, sample(jax.random.PRNGKey(0)), jax.random.PRNGKey(0))
  monitoring.register_event_duration_secs_listener(listener)
  try:
    seen = set()
    for r in range(1, 6):
      ids = sample(jax.random.PRNGKey(r))
      seen.add(tuple(ids.tolist()))
      state, metrics = round_fn(state, data, ids, jax.random.fold_in(jax.random.PRNGKey(1), r))
    jax.block_until_ready(state)
    assert len(seen) > 1  # the sampled clients did change
    assert compiles == []
    assert round_fn._cache_size() == 1
    # The counter does see compilations: a new number of clients recompiles.
    round_fn(state, data, jnp.arange(4, dtype=jnp.int32), jax.random.PRNGKey(9))
    assert len(compiles) >= 1 and round_fn._cache_size() == 2
  finally:
    monitoring.unregister_event_duration_listener(listener)


def test_sharded_round_compiles_once_when_inputs_are_replicated(ragged_data, tiny_mlp):
  # On a `clients` mesh the round returns replicated state; inputs placed the
  # same way (as train.py does) keep the second round on the first program.
  from fedjax_sim.core.sharding import client_mesh
  from fedjax_sim.distributed import replicate
  compiles = []

  def listener(event, duration, **kwargs):
    if event == COMPILE_EVENT:
      compiles.append(event)

  mesh = client_mesh()
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.adam(0.01))
  round_fn = build_round(algorithm, plan_batches(ragged_data.max_examples, 4),
                         'sequential', 1, mesh)
  state = replicate(init_state(algorithm, tiny_mlp.init(jax.random.PRNGKey(0),
                                                         jnp.zeros((1, 6))),
                               ragged_data.num_clients), mesh)
  data = replicate(ragged_data, mesh)
  ids = replicate(jnp.array([0, 2, 3], jnp.int32), mesh)
  state, _ = round_fn(state, data, ids, jax.random.PRNGKey(0))
  monitoring.register_event_duration_secs_listener(listener)
  try:
    for r in range(1, 3):
      state, _ = round_fn(state, data, ids, jax.random.PRNGKey(r))
    jax.block_until_ready(state)
    assert compiles == []
  finally:
    monitoring.unregister_event_duration_listener(listener)
