"""fedjax_sim: federated learning where every round is one XLA program."""

from fedjax_sim import algorithms, core, data, models
from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import (Aggregator, ClientBatches, ClientResult, FederatedAlgorithm,
                             RoundState, build_round, init_state, train_locally,
                             use_cpu_cores)
from fedjax_sim.data import FederatedData, load_digits, load_synthetic, plan_batches, sample_clients
from fedjax_sim.errors import ConfigError, DataError, DivergedError, Interrupted
from fedjax_sim.evaluation.metrics import evaluate, evaluate_clients
from fedjax_sim.models import Model, get_model

__version__ = '0.1.0'

# The same random bits, faster and quicker to compile on CPU (see `cpu_random`).
core.cpu_random.unroll_threefry()

# Imported on first use: the experiment runner and the exporter bring
# matplotlib, orbax, tensorboardX and dp-accounting, which the engine alone
# does not need.
_LAZY = {'train': 'fedjax_sim.config.train', 'sweep': 'fedjax_sim.config.sweep_train',
         'load_model': 'fedjax_sim.export'}


def __getattr__(name: str):
  if name in _LAZY:
    import importlib
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

__all__ = [
    'algorithms', 'core', 'data', 'models', 'fedavg', 'ClientBatches',
    'ClientResult', 'FederatedAlgorithm', 'build_round', 'Aggregator',
    'RoundState', 'init_state', 'train_locally', 'FederatedData',
    'load_digits', 'load_synthetic', 'plan_batches', 'sample_clients',
    'ConfigError', 'DataError', 'DivergedError', 'Interrupted', 'evaluate',
    'evaluate_clients', 'Model', 'get_model', 'load_model', 'use_cpu_cores', 'train',
    'sweep',
]
