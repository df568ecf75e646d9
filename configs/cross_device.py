"""Cross-device FL on the virtual clock (docs/client_behaviour.md).

Digits over 100 phone-like clients: each online 30% of a virtual day from its
own phase (diurnal availability); speeds and bandwidths spread log-normally
(sigma 1); 130% of 10 clients selected per round, the first 10 reports kept;
a 60-second deadline. `get_config('fedavg')` drops clients that would miss
it; `get_config('fedprox')` (mu 0.01) keeps the steps they managed. Metrics
carry `virtual_time`, for plots against virtual time (report, control room).
"""

import ml_collections

from configs import default

ALGORITHMS = ('fedavg', 'fedprox')


def get_config(algorithm: str = 'fedavg') -> ml_collections.ConfigDict:
  if algorithm not in ALGORITHMS:
    raise ValueError(f'config argument must be one of {ALGORITHMS}, got {algorithm!r}')
  config = default.get_config()
  config.algorithm = algorithm
  config.rounds, config.eval_every = 200, 20
  config.data.num_clients = 100
  config.client.batch_size, config.client.epochs = 5, 5
  config.system.update(speed=0.5, speed_sigma=1., bandwidth=20000., bandwidth_sigma=1.)
  config.availability.update(kind='diurnal', fraction=0.3)
  config.clock.update(deadline=60., over_selection=0.3)
  return config
