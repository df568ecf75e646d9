"""Whether two checkouts compile the same default round: the SHA-256 of
the lowered StableHLO of FedAvg's round (digits, the MLP, 8 clients) in
each layout. Equal hashes mean an engine change left the default program,
and so its speed, exactly as it was.

  python benchmarks/same_program.py /path/to/old/checkout
  python benchmarks/same_program.py .
"""

import sys, hashlib
sys.path.insert(0, sys.argv[1])
import jax, jax.numpy as jnp, optax
import fedjax_sim as fs
train, test = fs.load_digits(num_clients=20)
model = fs.get_model('mlp', 10, {'hidden': (200,)})
for strategy in ('sequential', 'chunked', 'vmap'):
  algorithm = fs.fedavg(model, optax.sgd(0.1), optax.sgd(1.))
  rf = fs.build_round(algorithm, fs.plan_batches(train.max_examples, 20), strategy, 4)
  params = model.init(jax.random.PRNGKey(0), jnp.asarray(test['x'][:1]))
  state = fs.init_state(algorithm, params, 20)
  text = rf.lower(state, train, jnp.arange(8, dtype=jnp.int32), jax.random.PRNGKey(0)).as_text()
  print(strategy, hashlib.sha256(text.encode()).hexdigest()[:16])
