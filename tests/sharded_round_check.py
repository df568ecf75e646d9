"""Run by test_sharding in a subprocess with 8 forced CPU devices: prints the
largest |difference| between 1-device and 8-device rounds, per case, as JSON."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from fedjax_sim.aggregators.median import median  # noqa: E402
from fedjax_sim.algorithms import fedavg  # noqa: E402
from fedjax_sim.algorithms.fedexp import fedexp  # noqa: E402
from fedjax_sim.algorithms.scaffold import scaffold  # noqa: E402
from fedjax_sim.core import build_round, init_state  # noqa: E402
from fedjax_sim.core.sharding import client_mesh, replicator  # noqa: E402
from fedjax_sim.data.batching import plan_batches  # noqa: E402
from fedjax_sim.data.federated_data import from_client_arrays  # noqa: E402
from fedjax_sim.models import get_model  # noqa: E402

COUNTS = (1, 7, 0, 23, 5, 12, 9, 3, 16, 2, 11)


def main():
  assert jax.device_count() == 8, jax.devices()
  # Data passed to every round is replicated onto the mesh once.
  place, plain = replicator(client_mesh()), jnp.arange(5.)
  assert place(plain) is place(plain) and place(place(plain)) is place(plain)
  rng = np.random.default_rng(0)
  data = from_client_arrays([{'x': rng.normal(size=(n, 6)).astype(np.float32),
                              'y': rng.integers(0, 4, n).astype(np.int32)} for n in COUNTS], 'r')
  model = get_model('mlp', 4, {'hidden': (8,)})
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  plan = plan_batches(data.max_examples, 4, epochs=2)
  by_median = median()
  algorithms = {
      'fedavg': fedavg(model, optax.adam(0.05), optax.sgd(0.7, momentum=0.9)),
      'scaffold': scaffold(model, 0.1, optax.sgd(1.), num_clients=len(COUNTS),
                           clients_per_round=9),
      'median': fedavg(model, optax.sgd(0.1), optax.sgd(1.))._replace(aggregator=by_median),
      'fedexp': fedexp(model, optax.sgd(0.5)),  # a second reduce (side), all-reduced too
  }
  rounds = [[3, 0, 2, 5, 1, 8, 10, 7, 6], [9, 3, 4, 5, 1, 0, 2, 6, 8]]  # 9: not a multiple of 8
  result = {}
  for name, algorithm in algorithms.items():
    # (strategy, chunk, mesh of the second run); 'auto' maps over all 8
    # devices by itself and is compared with one device, one client at a time.
    layouts = [('vmap', 1, client_mesh()), ('chunked', 2, client_mesh()),
               ('sequential', 1, client_mesh())][1 if name == 'fedexp' else 0:]
    one_device = {}  # the 1-device runs, by layout (auto reuses 'sequential')

    def run(round_fn):
      state = init_state(algorithm, jax.tree.map(jnp.copy, params), len(COUNTS))
      for r, ids in enumerate(rounds):  # plain inputs, as a library user passes them
        state, metrics = round_fn(state, data, jnp.array(ids, jnp.int32),
                                  jax.random.PRNGKey(r))
      assert round_fn._cache_size() == 1  # the second round reused the program
      return state, metrics['clients']['weight']

    if name in ('scaffold', 'median'):  # one lane per device, clients back to back
      layouts.append(('lanes', 1, client_mesh()))
    for strategy, chunk, mesh in layouts + ([('auto', 1, None)] if name in ('fedavg', 'scaffold')
                                            else []):
      reference = 'sequential' if strategy == 'auto' else strategy
      if reference not in one_device:
        one_device[reference] = run(build_round(algorithm, plan, reference, chunk))
      (a, wa), (b, wb) = one_device[reference], run(build_round(algorithm, plan, strategy,
                                                                  chunk, mesh))
      assert wa.shape == wb.shape == (9,)
      result[f'{name}/{strategy}'] = max(
          float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  print(json.dumps(result))


if __name__ == '__main__':
  main()
