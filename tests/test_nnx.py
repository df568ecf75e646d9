"""flax NNX models through `from_nnx`: the NNX MLP's rounds equal the linen
MLP's with the same weights; dropout follows `apply`'s rng; a config run with
`model.name='mlp_nnx'` checkpoints, resumes exactly and exports."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import fedjax_sim as fs
from configs import default
from fedjax_sim.core import build_round, init_state
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.export import export_model
from fedjax_sim.models import from_nnx, get_model


def as_nnx(linen_params):
  """The linen MLP's params in the NNX twin's layout."""
  layers = sorted(linen_params, key=lambda name: int(name.split('_')[1]))
  return {'hidden': {str(i): linen_params[n] for i, n in enumerate(layers[:-1])},
          'out': linen_params[layers[-1]]}


def test_nnx_mlp_rounds_equal_the_linen_mlp(ragged_data):
  linen, twin = (get_model(name, 4, {'hidden': (8, 5)}) for name in ('mlp', 'mlp_nnx'))
  params = linen.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))
  nnx_params = as_nnx(params)
  assert jax.tree.structure(nnx_params) == jax.tree.structure(
      twin.init(jax.random.PRNGKey(1), jnp.zeros((1, 6))))
  plan = plan_batches(ragged_data.max_examples, 4, epochs=2)
  states = []
  for model, start in ((linen, params), (twin, nnx_params)):
    algorithm = fs.fedavg(model, optax.sgd(0.3), optax.sgd(1., momentum=0.9))
    round_fn = build_round(algorithm, plan, 'chunked', 2)
    state = init_state(algorithm, jax.tree.map(jnp.copy, start), ragged_data.num_clients)
    for r, ids in enumerate([[3, 0, 2], [1, 5, 4]]):
      state, _ = round_fn(state, ragged_data, jnp.array(ids, jnp.int32), jax.random.PRNGKey(r))
    states.append(state.server.params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
               as_nnx(states[0]), states[1])
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), states[1], nnx_params)
  assert max(jax.tree.leaves(moved)) > 1e-2


class Dropped(nnx.Module):
  def __init__(self, rngs: nnx.Rngs):
    self.linear = nnx.Linear(3, 16, rngs=rngs)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)

  def __call__(self, x):
    return self.dropout(self.linear(x))


def test_nnx_dropout_follows_the_apply_rng():
  model = from_nnx(lambda x, rngs: Dropped(rngs), 16)
  x = jnp.ones((4, 3))
  params = model.init(jax.random.PRNGKey(0), x)
  apply = jax.jit(model.apply)
  a, b = apply(params, x, jax.random.PRNGKey(1)), apply(params, x, jax.random.PRNGKey(1))
  c = apply(params, x, jax.random.PRNGKey(2))
  clean = jax.jit(lambda p, x: model.apply(p, x))(params, x)
  np.testing.assert_array_equal(a, b)
  assert 0.3 < float(jnp.mean(a == 0)) < 0.7 and not np.array_equal(a, c)
  np.testing.assert_allclose(clean, x @ params['linear']['kernel'] + params['linear']['bias'],
                             rtol=1e-6)
  kept = a != 0
  np.testing.assert_allclose(a[kept], 2 * clean[kept], rtol=1e-6)  # inverted dropout


def test_nnx_model_from_a_config_resumes_exactly_and_exports(tmp_path):
  config = default.get_config()
  config.model.name = 'mlp_nnx'
  config.rounds, config.eval_every, config.checkpoint_every = 4, 2, 2
  straight = fs.train(config, log=lambda line: None, workdir=str(tmp_path / 'straight'))
  config.rounds = 2
  fs.train(config, log=lambda line: None, workdir=str(tmp_path / 'resumed'))
  config.rounds = 4
  resumed = fs.train(config, log=lambda line: None, workdir=str(tmp_path / 'resumed'),
                     resume=True)
  strip = lambda h: {k: v for k, v in h.items() if k != 'rounds_per_sec'}  # noqa: E731
  assert strip(straight[-1]) == strip(resumed[-1]) and straight[-1]['test_accuracy'] > 0.5
  export_model(str(tmp_path / 'straight'), str(tmp_path / 'model.msgpack'))
  loaded = fs.load_model(str(tmp_path / 'model.msgpack'))
  assert loaded.predict(np.zeros((2, 64), np.float32)).shape == (2, 10)
