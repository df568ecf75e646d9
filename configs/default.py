"""Default experiment: FedAvg on the embedded digits data, 20 clients, Dirichlet(0.5).

`get_config('synthetic')` swaps in FedProx's Synthetic(1, 1) with logistic
regression (30 clients); every algorithm config accepts the same argument,
e.g. `--config=configs/fedprox.py:synthetic`.
"""

import ml_collections

from fedjax_sim.config.schema import algorithm_sections, defaults

DATA = ('digits', 'synthetic')


def get_config(data: str = 'digits') -> ml_collections.ConfigDict:
  if data not in DATA:
    raise ValueError(f'config argument must be one of {DATA}, got {data!r}')
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.algorithm = 'fedavg'
  config.rounds = 60
  config.clients_per_round = 10
  config.eval_every = 10
  # Data streamed from disk (the SQLite benchmarks): client-level evaluation
  # uses this fixed seeded subset of clients, not all of them.
  config.eval_clients = 100
  config.weighting = 'num_examples'  # or 'uniform'
  # A client update or server state that is not finite: 'stop' the run with
  # one line naming the round and clients, or 'drop' those clients (counted).
  config.on_nonfinite = 'stop'
  # A finite test loss that blew up (fedjax_sim/run/divergence.py: above
  # `factor` x ln(classes), the loss of a uniform guess, or `factor`-fold
  # its first evaluation's): action 'warn' (one line) or 'stop' (exit 1).
  config.divergence = defaults('divergence')
  # > 0: each evaluation also tests the global model on this fraction of the
  # clients (seeded by seed and round), on the part of their data they hold
  # out (personalization.client_test_fraction): sampled_clients_test_*.
  config.client_eval_fraction = 0.
  # True: the centralized baseline of this experiment: all training data
  # pooled into one client that trains, each round, on as many examples as
  # the sampled clients would (fedjax_sim/config/centralized.py).
  config.centralized = False
  # Stragglers (fedjax_sim/behaviour/stragglers.py): this fraction of each round's
  # clients manages only part of its local steps; mode 'partial' keeps that
  # work (FedProx), 'drop' leaves stragglers out of the round (FedAvg).
  config.stragglers = defaults('stragglers')
  # Each sampled client drops out mid-round with this probability
  # (fedjax_sim/behaviour/dropouts.py): its work is lost and it does not report.
  config.dropout = defaults('dropout')
  # The virtual clock (docs/client_behaviour.md), on once any of these three
  # sections differs from its defaults; rounds then record virtual_time.
  # Devices (fedjax_sim/behaviour/system_profiles.py): mean local steps per virtual
  # second and upload bytes per virtual second (0: instant), each spread
  # log-normally over the clients by its sigma; `file`: a CSV
  # client,speed[,bandwidth] for listed clients.
  config.system = defaults('system')
  # Who can be sampled (fedjax_sim/behaviour/availability.py): kind 'always' | 'iid'
  # (`probability` per round) | 'diurnal' (online a `fraction` of every
  # `period` virtual seconds, per-client phase) | 'trace' (CSV client,start,end
  # in `trace_file`, repeated every `trace_period` seconds if > 0).
  config.availability = defaults('availability')
  # Rounds (fedjax_sim/behaviour/clock.py): a `deadline` in virtual seconds (0:
  # none); a client that would miss it does the steps it can ('partial'), is
  # dropped ('drop'), or 'auto' (partial for FedProx); `over_selection` 0.3
  # selects 130% of clients_per_round and keeps the first reports; a round
  # with no available client lasts `idle_wait` seconds.
  config.clock = defaults('clock')
  # Asynchronous FedBuff (fedjax_sim/behaviour/fedbuff/) when buffer_size K > 0: the
  # server updates every K reports, `concurrency` clients in flight (0:
  # clients_per_round), reports discounted by staleness 'constant' |
  # 'polynomial' ((1 + tau)^-exponent) | 'hinge' (no discount up to `hinge`);
  # K = 1 is FedAsync. Rounds are then server programs of K clients each.
  config.fedbuff = defaults('fedbuff')

  # The data set (fedjax_sim/data/settings.py): every source's fields; the
  # default is digits over 20 clients by Dirichlet(0.5) label skew.
  config.data = defaults('data')

  config.model = ml_collections.ConfigDict()
  config.model.name = 'mlp'
  config.model.options = ml_collections.ConfigDict({'hidden': (200,)})

  config.client = ml_collections.ConfigDict()
  # Optimizers (fedjax_sim/optimizers.py): name sgd | adam | adagrad | yogi.
  config.client.optimizer = defaults('client.optimizer')
  config.client.batch_size = 20
  config.client.epochs = 1
  config.client.steps = 0  # > 0: exactly this many local steps per client

  config.server = ml_collections.ConfigDict()
  config.server.optimizer = defaults('server.optimizer', learning_rate=1.)

  # Aggregation (fedjax_sim/aggregators/settings.py): name mean | median |
  # trimmed_mean | krum | dp | clip | dp_noise, or several joined by '+'; the
  # options of every rule.
  config.aggregator = defaults('aggregator')
  # Byzantine clients (fedjax_sim/behaviour/attacks.py): kind 'none' | 'sign_flip' |
  # 'scale' | 'label_flip', the malicious fraction of clients, update magnitude.
  config.attack = defaults('attack')

  # Personalization (fedjax_sim/evaluation/personalization.py): client_test_fraction > 0
  # holds out that part of each client's data (training uses the rest) and
  # reports local/personalized accuracy; finetune_steps > 0 fine-tunes the
  # global model per client with SGD at learning_rate before evaluating.
  config.personalization = defaults('personalization')

  # Upload compression (fedjax_sim/compression/): name 'none' | 'quantize'
  # (stochastic, `bits` per coordinate) | 'topk' (keep `fraction` of each
  # tensor), with error feedback (residuals kept per client).
  config.compression = defaults('compression')

  # With --workdir: a checkpoint every `every` rounds (0: only at the end),
  # the last `keep` kept.
  config.checkpoint = defaults('checkpoint')
  # Epsilon accounting of aggregator.name='dp' (fedjax_sim/privacy.py).
  config.privacy = defaults('privacy')
  # Each algorithm's own options, `config.<algorithm>` (fedjax_sim/algorithms/).
  config.update(algorithm_sections())

  # engine.strategy: 'auto' (the engine picks the layout and, with several
  # devices, splits the clients over all of them) | 'vmap' | 'chunked' |
  # 'sequential' | 'lanes'; engine.chunk_size: clients per chunk ('chunked'),
  # or lanes ('lanes'); engine.shard_clients: split the sampled clients over
  # all devices (of all processes) with a 'clients' mesh, always on in
  # multi-process runs; engine.population: where the client population (data
  # and per-client state) lives: 'device', 'host' (host memory; each round
  # moves only the sampled clients' rows), 'disk' (as 'host', the client
  # states in files under the workdir; for states larger than host memory) or
  # 'auto' (host once it takes more than 1 GiB, or when streamed from disk;
  # never disk).
  config.engine = defaults('engine')
  if data == 'synthetic':
    use_synthetic(config, alpha=1., beta=1.)
  return config


def use_synthetic(config: ml_collections.ConfigDict, alpha: float,
                  beta: float) -> None:
  """Switches `config` to Synthetic(alpha, beta), 30 clients, logistic regression."""
  config.rounds = 100
  config.eval_every = 20
  config.data = defaults('data', name='synthetic', num_clients=30, alpha=alpha, beta=beta)
  config.model.name = 'logistic'
  config.model.options = ml_collections.ConfigDict()
  config.client.batch_size = 10
  config.client.optimizer.learning_rate = 0.01
