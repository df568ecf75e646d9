"""Asynchronous FedBuff (Nguyen et al. 2022) on configs/cross_device.py's phones.

The same 100 digits clients, diurnal availability and log-normal devices as
the synchronous cross-device config, but no rounds: 30 clients are in flight,
and the server updates every 10 reports, each discounted by its staleness
(1 + tau)^-0.5. A round here is one server program of 10 client trainings, so
200 rounds train as many clients as the synchronous config's 200 rounds of
10. `get_config('fedasync')` is FedAsync (Xie et al. 2019): every report
updates the model (K = 1, 10 in flight, server learning rate 0.5), over 2,000
rounds of one client. Compare them against virtual time with
`scripts/report.py` (docs/client_behaviour.md).
"""

import ml_collections

from configs import cross_device

VARIANTS = ('fedbuff', 'fedasync')


def get_config(variant: str = 'fedbuff') -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f'config argument must be one of {VARIANTS}, got {variant!r}')
  config = cross_device.get_config('fedavg')
  config.clock.update(deadline=0., over_selection=0.)  # no rounds to close
  if variant == 'fedbuff':
    config.fedbuff.update(buffer_size=10, concurrency=30)
  else:
    config.fedbuff.update(buffer_size=1, concurrency=10)
    config.server.optimizer.learning_rate = 0.5
    config.rounds, config.eval_every = 2000, 200
  return config
