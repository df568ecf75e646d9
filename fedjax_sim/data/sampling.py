"""Per-round client sampling."""

import jax


def sample_clients(key: jax.Array, num_clients: int,
                   clients_per_round: int) -> jax.Array:
  """Uniformly samples `clients_per_round` distinct client ids (int32)."""
  return jax.random.choice(key, num_clients, (clients_per_round,),
                           replace=False).astype('int32')
