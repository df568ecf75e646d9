"""Federated algorithms built on `fedjax_sim.core.FederatedAlgorithm`."""

from fedjax_sim.algorithms.fedavg import ServerState, fedavg

__all__ = ['ServerState', 'fedavg']
