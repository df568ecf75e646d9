"""Memory of the backward pass through federated rounds, by `remat` policy.

The gradient of the held-out loss after R rounds of FedAvg (digits, the
64-200-10 MLP, `--clients_per_round` clients, 1 epoch) with respect to the
initial parameters and both learning rates, as `scripts/hypergrad.py` takes
it. For each R and each `make_round(remat=...)` policy: XLA's temporary
memory of the compiled gradient (`memory_analysis().temp_size_in_bytes`),
beside that of the forward pass alone, and the gradient's time (median of
`--repeats`). No figure here is a target; they say what each policy keeps.

  python benchmarks/remat_memory.py --rounds=1,5,20 --batch_sizes=20,200
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from absl import app, flags  # noqa: E402

from fedjax_sim import hypergrad  # noqa: E402
from fedjax_sim.algorithms.fedavg import fedavg  # noqa: E402
from fedjax_sim.core.round import REMAT  # noqa: E402
from fedjax_sim.data import load_digits, plan_batches  # noqa: E402
from fedjax_sim.models import get_model  # noqa: E402

_ROUNDS = flags.DEFINE_list('rounds', ['1', '5', '20'], 'Rounds per episode (R).')
_BATCHES = flags.DEFINE_list('batch_sizes', ['20', '200'], 'Local batch sizes.')
_PER_ROUND = flags.DEFINE_integer('clients_per_round', 8, 'Clients per round.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timings of each gradient.')

MiB = 2 ** 20


def main(argv):
  del argv
  data, test = load_digits(20, 'dirichlet', 0.5)
  train, valid = hypergrad.hold_out(data, 4)
  model = get_model('mlp', 10, {'hidden': (200,)})
  params = model.init(jax.random.PRNGKey(0), jnp.asarray(test['x'][:1]))
  valid_loss = hypergrad.validation_loss(model, jax.device_put(valid))
  hyper = {'client_lr': jnp.float32(0.1), 'server_lr': jnp.float32(1.)}
  print('| batch | steps/client (max) | R | forward MiB | ' +
        ' | '.join(f'backward MiB, remat={r}' for r in REMAT) + ' | ' +
        ' | '.join(f'gradient s, remat={r}' for r in REMAT) + ' |')
  print('|' + '---|' * (4 + 2 * len(REMAT)))
  for batch in map(int, _BATCHES.value):
    plan = plan_batches(train.max_examples, batch)
    for rounds in map(int, _ROUNDS.value):
      ep = hypergrad.episode(jax.random.PRNGKey(1), train.num_clients, _PER_ROUND.value,
                             rounds)

      def loss(p, h, remat):
        final = hypergrad.train_episode(
            lambda h: fedavg(model, optax.sgd(h['client_lr']), optax.sgd(h['server_lr'])),
            plan, train, differentiable=True, remat=remat)
        return valid_loss(final(p, h, ep))

      forward = jax.jit(loss, static_argnums=2).lower(params, hyper, 'client').compile()
      memory, seconds = [], []
      for remat in REMAT:
        grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
        compiled = grad.lower(params, hyper, remat).compile()
        memory.append(compiled.memory_analysis().temp_size_in_bytes / MiB)
        jax.block_until_ready(compiled(params, hyper))
        times = []
        for _ in range(_REPEATS.value):
          start = time.perf_counter()
          jax.block_until_ready(compiled(params, hyper))
          times.append(time.perf_counter() - start)
        seconds.append(statistics.median(times))
      fwd = forward.memory_analysis().temp_size_in_bytes / MiB
      print(f'| {batch} | {plan.num_steps} | {rounds} | {fwd:.2f} | ' +
            ' | '.join(f'{m:.2f}' for m in memory) + ' | ' +
            ' | '.join(f'{s:.3f}' for s in seconds) + ' |', flush=True)


if __name__ == '__main__':
  app.run(main)
