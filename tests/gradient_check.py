"""Gradients of the validation loss after two federated rounds against
central finite differences, in float64.

`python tests/gradient_check.py ALGORITHMS STRATEGY CHUNK [mesh]` prints one
JSON object per algorithm (ALGORITHMS comma-separated): for the initial
parameters (along a random direction) and each hyper-parameter, the gradient
`jax.grad` gives and the finite difference.
With `mesh`, the rounds run on a `clients` mesh of every device (start it
with XLA_FLAGS=--xla_force_host_platform_device_count=2).
`tests/test_differentiable.py` runs it in-process and in a subprocess.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fedjax_sim.aggregators.clip import clip  # noqa: E402
from fedjax_sim.algorithms.fedavg import fedavg  # noqa: E402
from fedjax_sim.algorithms.fedprox import fedprox  # noqa: E402
from fedjax_sim.algorithms.scaffold import scaffold  # noqa: E402
from fedjax_sim.core import init_state, make_round, run_rounds  # noqa: E402
from fedjax_sim.core.sharding import client_mesh  # noqa: E402
from fedjax_sim.data import from_client_arrays, plan_batches  # noqa: E402
from fedjax_sim.models import get_model, masked_loss  # noqa: E402

COUNTS = (1, 7, 0, 23, 5, 12)  # client 2 is empty
IDS = np.asarray([[3, 1, 2], [5, 0, 3]], np.int32)  # two rounds of three clients
HYPER = {
    # weight_i: client i's aggregation weight (times its example count)
    'fedavg': {'client_lr': 0.3, 'server_lr': 0.9, 'momentum': 0.5, 'weight_3': 1.5,
               'weight_5': 0.4},
    'fedprox': {'client_lr': 0.3, 'server_lr': 0.9, 'mu': 0.5, 'clip': 0.5},
    'fedadam': {'client_lr': 0.3, 'server_lr': 0.05},
    'scaffold': {'client_lr': 0.3, 'server_lr': 0.9},
}
EPS = 1e-6


def data_and_model():
  rng = np.random.default_rng(0)
  clients = [{'x': rng.normal(size=(n, 6)).astype(np.float64),
              'y': rng.integers(0, 4, n).astype(np.int32)} for n in COUNTS]
  valid = {'x': jnp.asarray(rng.normal(size=(40, 6))), 'y': jnp.asarray(rng.integers(0, 4, 40))}
  return from_client_arrays(clients, 'ragged'), valid, get_model('mlp', 4, {'hidden': (8,)})


def build(name: str, model, hyper):
  client, server = optax.sgd(hyper['client_lr']), optax.sgd(hyper['server_lr'])
  if name == 'fedavg':
    weights = jnp.ones(len(COUNTS), hyper['weight_3'].dtype)
    weights = weights.at[3].set(hyper['weight_3']).at[5].set(hyper['weight_5'])
    return fedavg(model, client, optax.sgd(hyper['server_lr'], hyper['momentum']),
                  client_weights=weights)
  if name == 'fedprox':  # with a clipping aggregator: its norm bound is traced too
    return fedprox(model, client, server, hyper['mu'])._replace(aggregator=clip(hyper['clip']))
  if name == 'fedadam':
    return fedavg(model, client, optax.adam(hyper['server_lr'], eps=1e-3))  # tau of Reddi et al.
  return scaffold(model, hyper['client_lr'], server, len(COUNTS), IDS.shape[1])


def check(name: str, strategy: str, chunk_size: int, on_mesh: bool) -> dict:
  """{quantity: [gradient, finite difference]}."""
  data, valid, model = data_and_model()
  plan = plan_batches(data.max_examples, 4, epochs=2)
  mesh = client_mesh() if on_mesh else None
  keys = jax.random.split(jax.random.PRNGKey(7), IDS.shape[0])

  @jax.jit
  def loss(params, hyper):
    algorithm = build(name, model, hyper)
    round_fn = make_round(algorithm, plan, strategy, chunk_size, mesh, differentiable=True)
    state = init_state(algorithm, params, data.num_clients)
    state, _ = run_rounds(round_fn, state, data, jnp.asarray(IDS), keys)
    return masked_loss(model, state.server.params, valid, jnp.ones(40, bool))

  params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                        model.init(jax.random.PRNGKey(1), jnp.zeros((1, 6))))
  hyper = {k: jnp.float64(v) for k, v in HYPER[name].items()}
  grad_params, grad_hyper = jax.grad(loss, argnums=(0, 1))(params, hyper)
  direction = jax.tree.map(lambda a, k: jax.random.normal(k, a.shape, jnp.float64), params,
                           _keys_like(params))
  shifted = lambda s: jax.tree.map(lambda p, d: p + s * EPS * d, params, direction)  # noqa: E731
  out = {'params': [float(sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad_params),
                                                            jax.tree.leaves(direction)))),
                    float((loss(shifted(1), hyper) - loss(shifted(-1), hyper)) / (2 * EPS))]}
  for key in hyper:
    bump = lambda s: {**hyper, key: hyper[key] + s * EPS}  # noqa: E731
    out[key] = [float(grad_hyper[key]),
                float((loss(params, bump(1)) - loss(params, bump(-1))) / (2 * EPS))]
  out['devices'] = mesh.size if mesh else 1
  out['finite'] = bool(all(np.isfinite(np.asarray(g)).all()
                           for g in jax.tree.leaves((grad_params, grad_hyper))))
  return out


def _keys_like(tree):
  leaves, treedef = jax.tree.flatten(tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(jax.random.PRNGKey(2), len(leaves))))


def main(argv: list[str]) -> None:
  strategy, chunk = argv[2], int(argv[3])
  on_mesh = len(argv) > 4 and argv[4] == 'mesh'
  with jax.enable_x64(True):
    for name in argv[1].split(','):
      print(json.dumps(check(name, strategy, chunk, on_mesh)))


if __name__ == '__main__':
  main(sys.argv)
