"""`ClientBatches`: one client's view of the padded data during a round."""

from __future__ import annotations

from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp


class ClientBatches(NamedTuple):
  """What a client sees: all padded examples plus its own batch plan.

  Examples are gathered on demand (`batch(indices)`), inside the mapped
  client function, so only the clients being processed at once (one, a
  chunk, or all under `vmap`) hold a `[steps, batch, ...]` copy.

  Attributes:
    examples: the full padded arrays `[num_clients, max_examples, ...]`.
    client_id: this client's id (scalar int32).
    count: number of real examples of this client.
    indices: int32 `[steps, batch]` example indices into the client's row.
    mask: bool `[steps, batch]`, False for padding.
    row: this client's row in `examples` when the data hold only some clients
      (streamed data sets); None when the row is `client_id`.
  """

  examples: Mapping[str, jax.Array]
  client_id: jax.Array
  count: jax.Array
  indices: jax.Array
  mask: jax.Array
  row: jax.Array | None = None

  def batch(self, indices: jax.Array) -> dict[str, jax.Array]:
    """Gathers the examples at `indices` (any int shape) of this client."""
    row = self.client_id if self.row is None else self.row
    return {k: jnp.asarray(v)[row, indices]
            for k, v in self.examples.items()}
