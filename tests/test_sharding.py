"""Client-axis sharding over 8 (forced CPU) devices equals the 1-device round,
and compiles once."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import build_round, init_state
from fedjax_sim.core.sharding import client_mesh
from fedjax_sim.data.batching import plan_batches
from conftest import xla_flags

HERE = os.path.dirname(os.path.abspath(__file__))


def test_eight_devices_match_one_device_to_1e5():
  env = {**os.environ, 'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=8'),
         'JAX_PLATFORMS': 'cpu'}
  proc = subprocess.run([sys.executable, os.path.join(HERE, 'sharded_round_check.py')],
                        capture_output=True, text=True, env=env, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  diffs = json.loads(proc.stdout.strip().splitlines()[-1])
  assert len(diffs) == 15
  assert max(diffs.values()) <= 1e-5, diffs


def test_one_device_mesh_is_the_plain_round(ragged_data, tiny_mlp):
  algorithm = fedavg(tiny_mlp, optax.sgd(0.1), optax.sgd(1.))
  plan = plan_batches(ragged_data.max_examples, 4)
  params = tiny_mlp.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  ids = jnp.array([4, 1, 3], jnp.int32)
  outs = [build_round(algorithm, plan, 'vmap', 1, mesh)(
      init_state(algorithm, jax.tree.map(jnp.copy, params), 6), ragged_data, ids,
      jax.random.PRNGKey(0))[0] for mesh in (None, client_mesh(jax.devices()[:1]))]
  jax.tree.map(np.testing.assert_array_equal, *outs)
