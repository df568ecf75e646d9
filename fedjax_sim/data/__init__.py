"""Federated data: padded client arrays, batching, partitioning, data sets."""

from fedjax_sim.data.batching import (BatchPlan, BatchStream, client_batches, client_stream,
                                     plan_batches, real_steps)
from fedjax_sim.data.digits import load_digits
from fedjax_sim.data.federated_data import FederatedData, from_client_arrays, validate
from fedjax_sim.data.packed import PackedData, for_round, pack
from fedjax_sim.data.partition import (PARTITIONS, dirichlet_partition, iid_partition,
                                      partition, powerlaw_partition, shards_partition)
from fedjax_sim.data.registry import DATASETS, Dataset, load_dataset
from fedjax_sim.data.sampling import sample_clients
from fedjax_sim.data.synthetic import load_synthetic

__all__ = [
    'BatchPlan', 'BatchStream', 'client_batches', 'client_stream', 'plan_batches',
    'real_steps', 'PackedData', 'for_round', 'pack', 'load_digits', 'FederatedData',
    'from_client_arrays', 'validate', 'dirichlet_partition', 'iid_partition',
    'PARTITIONS', 'partition', 'powerlaw_partition', 'shards_partition', 'DATASETS',
    'Dataset', 'load_dataset', 'sample_clients', 'load_synthetic',
]
