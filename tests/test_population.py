"""Population-scale client state: data and client states in host memory (or
the states on disk), only the sampled clients' rows on the device,
bit-identical to the dense device state, with exact resume; device memory
flat in the population."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import scaffold as scaffold_config
from fedjax_sim.rundir import checkpoint
from fedjax_sim.algorithms.scaffold import scaffold
from fedjax_sim.core import build_round, init_state
from fedjax_sim.core.placement import DEVICE_BYTES, choose_placement, host_client_states
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.errors import ConfigError
from fedjax_sim.models import get_model
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train


def scaffold_run(population, rounds=4):
  config = scaffold_config.get_config()
  config.rounds, config.eval_every, config.checkpoint.every = rounds, 2, 2
  config.engine.population = population
  return config


def newest_checkpoint(config, workdir):
  exp = build_experiment(config)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  like = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  return checkpoint.restore_latest(checkpoint.manager(os.path.join(workdir, 'checkpoints'), 3),
                                   like)


def test_host_population_equals_device_population_and_resumes_exactly(tmp_path):
  device, host = str(tmp_path / 'device'), str(tmp_path / 'host')
  assert build_experiment(scaffold_run('device')).placement == 'device'
  assert build_experiment(scaffold_run('host')).placement == 'host'
  want = train(scaffold_run('device'), log=lambda line: None, workdir=device)
  got = train(scaffold_run('host'), log=lambda line: None, workdir=host)
  strip = lambda history: [{k: v for k, v in h.items() if k != 'rounds_per_sec'}  # noqa: E731
                           for h in history]
  assert strip(got) == strip(want)
  (n1, a), (n2, b) = newest_checkpoint(scaffold_run('device'), device), \
      newest_checkpoint(scaffold_run('host'), host)
  assert n1 == n2 == 4
  jax.tree.map(np.testing.assert_array_equal, a, b)  # SCAFFOLD controls included
  assert np.abs(np.asarray(jax.tree.leaves(b.clients)[0])).max() > 0  # clients trained
  # A crash after round 2's checkpoint: resume from it on the host.
  shutil.rmtree(os.path.join(host, 'checkpoints', '4'))
  train(scaffold_run('host'), log=lambda line: None, workdir=host, resume=True)
  n3, c = newest_checkpoint(scaffold_run('host'), host)
  assert n3 == 4
  jax.tree.map(np.testing.assert_array_equal, a, c)


def disk_states(workdir, like):
  """The client states of a disk population, as `like`'s pytree."""
  leaves, treedef = jax.tree.flatten(like)
  return jax.tree.unflatten(treedef, [
      np.load(os.path.join(workdir, 'population', f'leaf-{i}.npy')) for i in range(len(leaves))])


def test_disk_population_equals_device_population_and_rolls_back_on_resume(tmp_path):
  device, disk = str(tmp_path / 'device'), str(tmp_path / 'disk')
  assert build_experiment(scaffold_run('disk')).placement == 'disk'
  want = train(scaffold_run('device'), log=lambda line: None, workdir=device)
  got = train(scaffold_run('disk'), log=lambda line: None, workdir=disk)
  strip = lambda history: [{k: v for k, v in h.items() if k != 'rounds_per_sec'}  # noqa: E731
                           for h in history]
  assert strip(got) == strip(want)
  n, a = newest_checkpoint(scaffold_run('device'), device)
  assert n == 4
  jax.tree.map(np.testing.assert_array_equal, a.clients, disk_states(disk, a.clients))
  # Only rounds after the oldest kept checkpoint (2) can be undone.
  assert sorted(os.listdir(os.path.join(disk, 'population', 'journal'))) == [
      '000000003.npz', '000000004.npz']
  # A crash after round 2's checkpoint, with round 3 and 4's rows written:
  # the resumed run rolls them back and ends as the uninterrupted run did.
  shutil.rmtree(os.path.join(disk, 'checkpoints', '4'))
  train(scaffold_run('disk'), log=lambda line: None, workdir=disk, resume=True)
  jax.tree.map(np.testing.assert_array_equal, a.clients, disk_states(disk, a.clients))
  # Without a workdir the store is a temporary directory, removed at the end.
  assert strip(train(scaffold_run('disk'), log=lambda line: None)) == strip(want)


def round_memory(num_clients: int, client_rows: bool) -> int:
  """Argument + output + temporary bytes of the compiled SCAFFOLD round with
  100 clients per round (compiled from shapes only, nothing allocated)."""
  model = get_model('logistic', 10, {})
  algorithm = scaffold(model, 0.1, optax.sgd(1.), num_clients, 100)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 60)))
  rows = 100 if client_rows else num_clients
  state = jax.eval_shape(lambda p: init_state(algorithm, p, rows), params)
  data = FederatedData({'x': jax.ShapeDtypeStruct((rows, 40, 60), jnp.float32),
                        'y': jax.ShapeDtypeStruct((rows, 40), jnp.int32)},
                       jax.ShapeDtypeStruct((rows,), jnp.int32))
  ids = jax.ShapeDtypeStruct((100,), jnp.int32)
  round_fn = build_round(algorithm, plan_batches(40, 10), 'sequential',
                         client_rows=client_rows)
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  memory = round_fn.lower(state, data, ids, key, ids if client_rows else None)
  memory = memory.compile().memory_analysis()
  return (memory.argument_size_in_bytes + memory.output_size_in_bytes
          + memory.temp_size_in_bytes)


def test_device_memory_is_flat_in_the_population_on_the_host():
  host = [round_memory(n, True) for n in (1_000, 100_000)]
  assert host[0] == host[1]
  assert round_memory(100_000, False) > 100 * host[0]  # dense state and data grow


def test_host_client_states_keep_each_clients_row_contiguous():
  # A row spread over the whole array made each round's gather and scatter
  # touch every page of the population (and gathers copy all of it).
  one = {'kernel': jnp.ones((3, 5)), 'bias': jnp.zeros(5)}
  states = host_client_states(one, 7)
  for leaf in jax.tree.leaves(states):
    assert leaf.flags['C_CONTIGUOUS'] and leaf.flags['WRITEABLE']
  assert states['kernel'].strides == (60, 20, 4)
  np.testing.assert_array_equal(states['kernel'], np.ones((7, 3, 5)))


def test_auto_placement_follows_population_size():
  assert choose_placement('auto', DEVICE_BYTES) == 'device'
  assert choose_placement('auto', DEVICE_BYTES + 1) == 'host'
  assert choose_placement('auto', 10, streamed=True) == 'host'
  assert choose_placement('disk', 10, streamed=True) == 'disk'
  assert choose_placement('auto', DEVICE_BYTES * 10 ** 6) == 'host'  # never disk by itself
  assert choose_placement('device', DEVICE_BYTES * 10) == 'device'
  with pytest.raises(ConfigError, match="engine.population must be one of .* got 'gpu'"):
    choose_placement('gpu', 0)
  with pytest.raises(ConfigError, match="engine.population='device' is not supported "
                     'with data streamed from disk'):
    choose_placement('device', 0, streamed=True)
