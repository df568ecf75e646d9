"""Worker for the systems that run in this repository's environment:
`fedjax_sim:<strategy>` (the engine: one XLA program per round) and
`jit_loop` (a jitted local update per client in a Python loop, then the
weighted mean: what a JAX user writes first).

  python benchmarks/peers/jax_worker.py --system=fedjax_sim:sequential --workload=mlp --clients=100

With `--dump_params=PATH` a `fedjax_sim:` system instead runs one round from
`workloads.initial_params` and writes the new server parameters to PATH
(`.npz`, named as `initial_params` names them), to check systems against
each other (`tests/test_peer_equivalence.py`).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import protocol  # noqa: E402
import workloads as wl  # noqa: E402


def build_model(workload: str, **options):
  """The workload's fedjax_sim model (`options` added to its own) and its
  example shape."""
  import fedjax_sim as fs
  shape, classes = wl.SHAPES[workload]
  name, own = {'logistic': ('logistic', {}), 'mlp': ('mlp', {'hidden': (200,)}),
               'cnn': ('cnn', {'dropout_rate': 0.25}), 'lstm': ('char_lstm', {})}[workload]
  return fs.get_model(name, classes, dict(own, **options)), shape


def sample_input(workload: str):
  """One zero example of the workload, batched (token ids for the LSTM)."""
  import jax.numpy as jnp
  shape = wl.SHAPES[workload][0]
  return jnp.zeros((1,) + shape, jnp.int32 if workload == 'lstm' else jnp.float32)


def from_shared(arrays, like):
  """`workloads.initial_params` arrays as the model's parameters `like`."""
  import jax
  params = {f'Dense_{i}': {'kernel': arrays[f'dense{i}/kernel'],
                           'bias': arrays[f'dense{i}/bias']} for i in range(len(like))}
  shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
  if shapes(params) != shapes(like):
    raise ValueError(f'parameters {shapes(params)} do not fit the model {shapes(like)}')
  return params


def to_shared(params):
  """The model's parameters named as `workloads.initial_params` names them."""
  import numpy as np
  return {f'dense{i}/{leaf}': np.asarray(params[f'Dense_{i}'][leaf])
          for i in range(len(params)) for leaf in ('kernel', 'bias')}


def engine_round(workload: str, clients: int, strategy: str, sizes: str = 'equal',
                 init=None):
  """One FedAvg round of the fedjax_sim engine over all `clients`; with
  `strategy` `<name>@<n>`, over a `clients` mesh of `n` devices; `auto` is
  the engine's default layout, as a user who sets no engine flag gets it.
  Starts from `init` (`workloads.initial_params`) if given; the round
  returns the new server parameters."""
  import jax
  import jax.numpy as jnp
  import optax
  import fedjax_sim as fs
  model, shape = build_model(workload)
  x, y, counts = wl.make_data(workload, clients, sizes=sizes)
  strategy, _, devices = strategy.partition('@')
  name, _, chunk = strategy.partition(':')
  mesh = fs.core.sharding.client_mesh(jax.devices()[:int(devices)]) if devices else None
  if name == 'auto':
    mesh = fs.core.auto_mesh()
  placement = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()) if mesh else None
  # Padded or packed (heavy padding), as scripts/train.py runs it.
  data = jax.device_put(fs.data.for_round(fs.FederatedData({'x': x, 'y': y}, counts)),
                        placement)
  algorithm = fs.fedavg(model, optax.sgd(wl.LR), optax.sgd(1.))
  plan = wl.schedule(sizes)
  round_fn = fs.build_round(algorithm, fs.plan_batches(x.shape[1], plan.batch, plan.epochs or 1,
                                                       plan.steps or 0),
                            name, int(chunk or 1), mesh)
  params = model.init(jax.random.PRNGKey(0), sample_input(workload))
  if init is not None:
    params = from_shared(init, params)
  ids = jnp.arange(clients, dtype=jnp.int32)
  # Placed as the round returns it, so the second round reuses the program.
  state = [jax.device_put(fs.init_state(algorithm, params, clients), placement),
           jax.random.PRNGKey(1)]

  def run():
    state[1], key = jax.random.split(state[1])
    state[0], _ = round_fn(state[0], data, ids, key)
    jax.block_until_ready(state[0])
    return state[0].server.params
  return run, params


def jit_loop_round(workload: str, clients: int):
  """Per-client `jax.jit` local SGD (a `lax.scan` over the steps) in a loop."""
  import jax
  import jax.numpy as jnp
  import optax
  model, shape = build_model(workload)
  x, y, _ = wl.make_data(workload, clients)
  xs = jnp.asarray(x).reshape((clients, wl.STEPS, wl.BATCH) + shape)
  ys = jnp.asarray(y).reshape(clients, wl.STEPS, wl.BATCH)
  params = model.init(jax.random.PRNGKey(0), sample_input(workload))
  opt = optax.sgd(wl.LR)

  @jax.jit
  def client_update(p, bx, by, key):
    def step(carry, batch):
      q, s, k = carry
      k, sub = jax.random.split(k)
      loss = lambda q: optax.softmax_cross_entropy_with_integer_labels(
          model.apply(q, batch[0], sub), batch[1]).mean()
      updates, s = opt.update(jax.grad(loss)(q), s, q)
      return (optax.apply_updates(q, updates), s, k), None
    (out, _, _), _ = jax.lax.scan(step, (p, opt.init(p), key), (bx, by))
    return jax.tree.map(jnp.subtract, out, p)

  add = jax.jit(lambda acc, d, w: jax.tree.map(lambda a, b: a + w * b, acc, d))
  state = [params, jax.random.PRNGKey(1)]

  def run():
    p, total = state[0], jax.tree.map(jnp.zeros_like, state[0])
    for c in range(clients):
      state[1], key = jax.random.split(state[1])
      total = add(total, client_update(p, xs[c], ys[c], key), float(wl.EXAMPLES))
    state[0] = jax.tree.map(lambda a, t: a + t / (clients * wl.EXAMPLES), p, total)
    jax.block_until_ready(state[0])
  return run, params


def main() -> None:
  parser = protocol.worker_parser()
  parser.add_argument('--system', required=True)
  args = protocol.parse_worker_args(parser)
  out = protocol.claim_stdout()
  devices = args.system.partition('@')[2]
  if devices:  # CPU devices for the mesh; must be set before jax starts
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               f' --xla_force_host_platform_device_count={int(devices)}')
  import jax
  if args.system == 'fedjax_sim:auto':
    import fedjax_sim as fs
    fs.use_cpu_cores()  # what scripts/train.py does
  if args.dump_params:
    if not args.system.startswith('fedjax_sim:'):
      raise SystemExit(f'--dump_params: fedjax_sim:<strategy> systems only, got {args.system!r}')
    import numpy as np
    run, _ = engine_round(args.workload, args.clients, args.system.split(':', 1)[1],
                          args.sizes, wl.initial_params(args.workload))
    np.savez(args.dump_params, **to_shared(run()))
    return
  if args.system.startswith('fedjax_sim:'):
    run, params = engine_round(args.workload, args.clients, args.system.split(':', 1)[1],
                               args.sizes)
  elif args.sizes != 'equal':
    raise SystemExit(f'--system={args.system} runs equal-size clients only')
  elif args.system == 'jit_loop':
    run, params = jit_loop_round(args.workload, args.clients)
  else:
    raise SystemExit(f'unknown --system {args.system!r}')
  info = {'num_params': sum(a.size for a in jax.tree.leaves(params)),
          'version': f'jax {jax.__version__}'}
  protocol.serve(run, info, out)


if __name__ == '__main__':
  main()
