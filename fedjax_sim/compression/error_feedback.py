"""`with_compression`: clients upload compressed updates, optionally with error
feedback (Seide et al. 2014; Karimireddy et al. 2019): each client keeps the
part of its updates that compression dropped and adds it to its next update."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fedjax_sim.compression.compressor import Compressor
from fedjax_sim.core.algorithm import ClientResult, FederatedAlgorithm

UPLOAD_BYTES = 'upload_bytes'


def with_compression(algorithm: FederatedAlgorithm, compressor: Compressor,
                     error_feedback: bool = True) -> FederatedAlgorithm:
  """`algorithm` whose clients send `compressor.compress(update + residual)`.

  Every tensor of the update is compressed (SCAFFOLD's model and control
  deltas alike; one-element leaves pass as they are, see `Compressor`). With
  `error_feedback` every client's persistent state also holds its residual
  (`update + residual - sent`, zeros at first), shaped like one update:
  `algorithm.zero_update(params)`. A client of weight 0 sends nothing and
  keeps its residual. Adds the client metric `upload_bytes`: the size of the
  whole payload, every tensor uploaded, 0 if not sent.
  """

  def client_init(params):
    residual = algorithm.zero_update(params) if error_feedback else ()
    return algorithm.client_init(params), residual

  def client_update(server_state, client_state, batches, key) -> ClientResult:
    inner_state, residual = client_state
    train_key, compress_key = jax.random.split(key)
    result = algorithm.client_update(server_state, inner_state, batches, train_key)
    sends = result.weight > 0
    update = result.update
    if error_feedback:
      update = jax.tree.map(jnp.add, update, residual)
    sent = compressor.compress(update, compress_key)
    if error_feedback:
      residual = jax.tree.map(lambda u, s: jnp.where(sends, u - s, u), update, sent)
    payload = jnp.where(sends, float(compressor.payload_bytes(sent)), 0.)
    return result._replace(update=sent, metrics={**result.metrics, UPLOAD_BYTES: payload},
                           client_state=(result.client_state, residual))

  def personal_params(client_state):
    return algorithm.personal_params(client_state[0])

  return algorithm._replace(client_init=client_init, client_update=client_update,
                            personal_params=personal_params)
