"""The round engine and the federated-algorithm interface."""

from fedjax_sim.core import cpu_random
from fedjax_sim.core.aggregator import Aggregator, Reduced, weighted_mean
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm, no_client_state
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import LocalResult, run_local_steps, step_key, train_locally
from fedjax_sim.core.mapping import STRATEGIES, map_and_sum
from fedjax_sim.core.round import build_round, make_round, run_rounds
from fedjax_sim.core.state import RoundState, client_key, init_state, round_keys
from fedjax_sim.core.sharding import auto_mesh, client_mesh, use_cpu_cores

__all__ = ['Aggregator', 'Reduced', 'weighted_mean', 'ClientResult',
           'FederatedAlgorithm', 'no_client_state', 'ClientBatches',
           'run_local_steps', 'step_key', 'train_locally', 'LocalResult', 'STRATEGIES', 'map_and_sum', 'RoundState',
           'build_round', 'make_round', 'run_rounds', 'client_key', 'init_state', 'round_keys', 'auto_mesh',
           'client_mesh', 'use_cpu_cores']
