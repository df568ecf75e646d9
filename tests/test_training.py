"""End-to-end: FedAvg learns on the embedded data sets."""

from configs import default, synthetic
from fedjax_sim.config.train import train


def test_digits_default_reaches_90_percent():
  config = default.get_config()
  assert (config.data.name, config.data.num_clients, config.data.partition,
          config.data.alpha) == ('digits', 20, 'dirichlet', 0.5)
  history = train(config, log=lambda line: None)
  assert history[-1]['round'] == config.rounds
  assert history[-1]['test_accuracy'] >= 0.90, history


def test_digits_chunked_strategy_gives_the_same_run():
  config = default.get_config()
  config.rounds, config.eval_every = 5, 5
  vmap = train(config, log=lambda line: None)[-1]
  config.engine.strategy = 'chunked'
  config.engine.chunk_size = 3
  chunked = train(config, log=lambda line: None)[-1]
  assert abs(vmap['test_accuracy'] - chunked['test_accuracy']) < 1e-6
  assert abs(vmap['test_loss'] - chunked['test_loss']) < 1e-4
  config.engine.shard_clients = True  # the `clients` mesh, inputs replicated
  sharded = train(config, log=lambda line: None)[-1]
  assert abs(sharded['test_accuracy'] - chunked['test_accuracy']) < 1e-6
  assert abs(sharded['test_loss'] - chunked['test_loss']) < 1e-4


def test_synthetic_00_loss_goes_down():
  config = synthetic.get_config()
  config.rounds, config.eval_every = 40, 10
  history = train(config, log=lambda line: None)
  losses = [h['test_loss'] for h in history]
  assert losses[-1] < 0.8 * losses[0], losses
  assert history[-1]['test_accuracy'] > history[0]['test_accuracy']


def test_same_seed_same_result_and_seed_matters():
  config = default.get_config()
  config.rounds, config.eval_every = 3, 3
  a = train(config, log=lambda line: None)[-1]
  b = train(config, log=lambda line: None)[-1]
  config.seed = 1
  c = train(config, log=lambda line: None)[-1]
  assert a['test_loss'] == b['test_loss'] and a['test_accuracy'] == b['test_accuracy']
  assert a['test_loss'] != c['test_loss']
