"""fedjax_sim: federated learning where every round is one XLA program."""

from fedjax_sim import algorithms, core, data, models
from fedjax_sim.algorithms import fedavg
from fedjax_sim.core import (Aggregator, ClientBatches, ClientResult, FederatedAlgorithm,
                             RoundState, build_round, init_state, train_locally,
                             use_cpu_cores)
from fedjax_sim.data import FederatedData, load_digits, load_synthetic, plan_batches, sample_clients
from fedjax_sim.errors import ConfigError, DataError, DivergedError, Interrupted
from fedjax_sim.export import load_model
from fedjax_sim.evaluation import evaluate, evaluate_clients
from fedjax_sim.experiment import train
from fedjax_sim.models import Model, get_model

__version__ = '0.1.0'

__all__ = [
    'algorithms', 'core', 'data', 'models', 'fedavg', 'ClientBatches',
    'ClientResult', 'FederatedAlgorithm', 'build_round', 'Aggregator',
    'RoundState', 'init_state', 'train_locally', 'FederatedData',
    'load_digits', 'load_synthetic', 'plan_batches', 'sample_clients',
    'ConfigError', 'DataError', 'DivergedError', 'Interrupted', 'evaluate',
    'evaluate_clients', 'Model', 'get_model', 'load_model', 'use_cpu_cores', 'train',
]
