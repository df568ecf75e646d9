"""Worker for FedJAX 0.0.17 (`benchmarks/peers/setup_fedjax.sh` makes its
environment): `fedjax.algorithms.fed_avg.federated_averaging`, which trains
the clients with `fedjax.for_each_client` (one jitted step per batch, a
Python loop over clients and steps) on `ShuffleRepeatBatchHParams` batches
(FedJAX fills a short last batch with further sampled examples, so every
batch has the full size and the step compiles once, in the warm-up round).

  benchmarks/.venvs/fedjax/bin/python benchmarks/peers/fedjax_worker.py --workload=mlp --clients=100

With `--dump_params=PATH` it instead runs one round from
`workloads.initial_params` and writes the new server parameters to PATH
(`.npz`, named as `initial_params` names them), to check systems against
each other (`tests/test_peer_equivalence.py`).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import protocol  # noqa: E402
import workloads as wl  # noqa: E402


def build_model(workload: str):
  """The workload's model as a FedJAX model (the EMNIST CNN and the
  Shakespeare LSTM are FedJAX's own)."""
  import fedjax
  import haiku as hk
  import jax
  import numpy as np
  if workload == 'cnn':
    return fedjax.models.emnist.create_conv_model(only_digits=False)
  if workload == 'lstm':
    # 86 characters + pad, BOS, EOS, OOV = wl.VOCAB; its loss masks pad (0),
    # which the workload's sequences never hold. FedJAX 0.0.17 builds its
    # evaluation logits mask from `jnp.NINF`, which jax 0.4.30 removed (the
    # mask plays no part in training): restore the alias.
    import jax.numpy as jnp
    if not hasattr(jnp, 'NINF'):
      jnp.NINF = -np.inf
    return fedjax.models.shakespeare.create_lstm_model(vocab_size=wl.VOCAB - 4)
  shape, classes = wl.SHAPES[workload]

  def forward_pass(batch):
    layers = [hk.Flatten()] + ([hk.Linear(200), jax.nn.relu] if workload == 'mlp' else [])
    return hk.Sequential(layers + [hk.Linear(classes)])(batch['x'])

  return fedjax.create_model_from_haiku(
      transformed_forward_pass=hk.transform(forward_pass),
      sample_batch={'x': np.zeros((1,) + shape, np.float32), 'y': np.zeros(1, np.int32)},
      train_loss=lambda b, p: fedjax.metrics.unreduced_cross_entropy_loss(b['y'], p))


def haiku_name(i: int) -> str:
  """Haiku's name of the model's `i`-th `hk.Linear`."""
  return 'linear' if i == 0 else f'linear_{i}'


def from_shared(arrays, like):
  """`workloads.initial_params` arrays as the model's parameters `like`."""
  import jax
  params = {haiku_name(i): {'w': arrays[f'dense{i}/kernel'], 'b': arrays[f'dense{i}/bias']}
            for i in range(len(like))}
  shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
  if shapes(params) != shapes(dict(like)):
    raise ValueError(f'parameters {shapes(params)} do not fit the model {shapes(like)}')
  return params


def to_shared(params):
  """The model's parameters named as `workloads.initial_params` names them."""
  import numpy as np
  return {f'dense{i}/{shared}': np.asarray(params[haiku_name(i)][leaf])
          for i in range(len(params)) for shared, leaf in (('kernel', 'w'), ('bias', 'b'))}


def fedjax_round(workload: str, clients: int, sizes: str, init=None):
  """One FedAvg round of FedJAX over all `clients`, from `init`
  (`workloads.initial_params`) if given; the round returns the new server
  parameters."""
  import fedjax
  import jax
  from fedjax.algorithms import fed_avg
  model = build_model(workload)
  x, y, counts = wl.make_data(workload, clients, sizes=sizes)
  datasets = [fedjax.ClientDataset({'x': x[c, :n], 'y': y[c, :n]})
              for c, n in enumerate(counts)]
  plan = wl.schedule(sizes)
  algorithm = fed_avg.federated_averaging(
      grad_fn=fedjax.model_grad(model),
      client_optimizer=fedjax.optimizers.sgd(wl.LR),
      server_optimizer=fedjax.optimizers.sgd(1.),
      client_batch_hparams=fedjax.ShuffleRepeatBatchHParams(
          batch_size=plan.batch, num_epochs=plan.epochs, num_steps=plan.steps))
  params = model.init(jax.random.PRNGKey(0))
  if init is not None:
    params = from_shared(init, params)
  state = [algorithm.init(params), jax.random.PRNGKey(1)]

  def run():
    state[1], key = jax.random.split(state[1])
    keys = jax.random.split(key, clients)
    round_clients = [(c, datasets[c], keys[c]) for c in range(clients)]
    state[0], _ = algorithm.apply(state[0], round_clients)
    jax.block_until_ready(state[0].params)
    return state[0].params
  return run, params


def main() -> None:
  parser = protocol.worker_parser()
  args = protocol.parse_worker_args(parser)
  out = protocol.claim_stdout()
  import jax
  # FedJAX's Shakespeare LSTM unrolls its 80 steps (`hk.static_unroll`): XLA
  # took 11 minutes (about 6 of CPU, on a shared 2-core machine) to compile its
  # step, in the untimed warm-up round. A persistent compilation cache in the venv spares later
  # runs that wait (timed rounds are unchanged: they never compile).
  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    jax.config.update('jax_compilation_cache_dir', os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.venvs', 'fedjax',
        'jax_cache'))
  if args.dump_params:
    import numpy as np
    run, _ = fedjax_round(args.workload, args.clients, args.sizes,
                          wl.initial_params(args.workload))
    np.savez(args.dump_params, **to_shared(run()))
    return
  run, params = fedjax_round(args.workload, args.clients, args.sizes)
  info = {'num_params': sum(a.size for a in jax.tree_util.tree_leaves(params)),
          'version': f'fedjax 0.0.17, jax {jax.__version__}'}
  protocol.serve(run, info, out)


if __name__ == '__main__':
  main()
