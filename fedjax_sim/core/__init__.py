"""The round engine and the federated-algorithm interface."""

from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm
from fedjax_sim.core.client_batches import ClientBatches
from fedjax_sim.core.local_training import run_local_steps
from fedjax_sim.core.mapping import STRATEGIES, map_and_sum
from fedjax_sim.core.round import build_round, client_key

__all__ = ['ClientResult', 'FederatedAlgorithm', 'ClientBatches',
           'run_local_steps', 'STRATEGIES', 'map_and_sum', 'build_round',
           'client_key']
