"""A float64 discrete-event loop of FedBuff for reference tests, generic in
what clients report and how the server steps, and the run it is compared
with (`fedbuff.wrap` + `build_round`, program by program)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fedjax_sim.behaviour import fedbuff
from fedjax_sim.behaviour import virtual_time as vt
from fedjax_sim.core import build_round, init_state, round_keys
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.federated_data import from_client_arrays
from fedjax_sim.behaviour.system_profiles import Profiles

COUNTS = [3, 9, 5, 14, 6, 11, 4, 8]  # eight clients, all with data
SPEEDS = [1.3, 0.7, 2.9, 0.45, 1.9, 1.1, 3.3, 0.8]  # steps per virtual second
UPLOADS = [0.3, 0.1, 0.05, 0.2, 0.15, 0.4, 0.25, 0.35]


def eight_clients():
  """Eight clients of 6 features and 4 classes, `COUNTS` examples each."""
  rng = np.random.default_rng(3)
  return from_client_arrays([{'x': rng.normal(size=(n, 6)).astype(np.float32),
                              'y': rng.integers(0, 4, n).astype(np.int32)} for n in COUNTS])


def run(data, model, algorithm, settings: fedbuff.Settings, programs: int,
        behaviour: Callable[[int], dict] | None = None, drop_nonfinite: bool = False):
  """`programs` FedBuff programs of `algorithm`; `behaviour(program)` gives
  the round's `step_budgets` and `reported` (numpy) for its K clients.
  Returns (initial params, plan, final state, log of (ids, key, behaviour,
  slot weights after the program, (mean staleness, version, virtual time)
  after it))."""
  plan = plan_batches(data.max_examples, 4, epochs=2)
  wrapped = fedbuff.wrap(
      algorithm, settings, profiles=Profiles(np.float32(SPEEDS[:data.num_clients]),
                                             np.float32(UPLOADS[:data.num_clients])),
      available=None, counts=jnp.asarray(data.counts), plan=plan, seed=0, idle_wait=60.)
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 6)))
  state = init_state(wrapped, params, data.num_clients)
  params = jax.tree.map(np.array, params)  # rounds donate the state's buffers
  round_fn, log = build_round(wrapped, plan, drop_nonfinite=drop_nonfinite), []
  for r in range(programs):
    ids, key = np.asarray(state.server.next_clients), jax.random.PRNGKey(100 + r)
    drawn = behaviour(r) if behaviour else {}
    state, _ = round_fn(state, data, jnp.asarray(ids), key, **fedbuff.program_inputs(
        {k: jnp.asarray(v) for k, v in drawn.items()}))
    server = state.server
    log.append((ids, key, drawn, np.asarray(server.weights),
                (float(server.staleness), int(server.version), vt.to_float(server.time))))
  return params, plan, state, log


def duration(data, client: int, plan) -> float:
  """Virtual seconds from start to report: all real steps, then the upload."""
  steps = -(-plan.epochs * int(data.counts[client]) // plan.batch_size)
  return np.float32(steps) / np.float32(SPEEDS[client]) + np.float32(UPLOADS[client])


def event_loop(data, plan, settings: fedbuff.Settings, log, server: Any,
               train: Callable[[Any, int, jax.Array, dict], Any],
               step: Callable[[Any, list, list], Any], clock: list | None = None) -> list:
  """The server states after each update: clients (taken from `log`) train
  from the version they downloaded (`train(server, client, clients_key,
  behaviour) -> report`), report after `duration`, and every K reports,
  earliest first, `step(server, reports, staleness factors)` makes the next
  version (None: no update). Polynomial staleness. `clock` receives each
  step's (mean staleness, virtual time)."""
  size, concurrency = settings.buffer_size, settings.concurrency
  versions, started, flying, time = [server], {}, [], 0.
  for k, (ids, key, drawn, *_) in enumerate(log):
    clients_key, _ = round_keys(key)
    for j, c in enumerate(ids):
      version, report = started.setdefault(int(c), (0, time + duration(data, c, plan)))
      own = {name: value[j] for name, value in drawn.items()}
      flying.append([report, int(c), version, train(versions[version], int(c), clients_key,
                                                     own)])
    if k < concurrency // size - 1:
      continue  # still filling the pipeline
    flying.sort(key=lambda f: f[0])
    arrived, flying = flying[:size], flying[size:]
    time = max(f[0] for f in arrived)
    taus = [len(versions) - 1 - f[2] for f in arrived]
    factors = [(1 + tau) ** -settings.exponent for tau in taus]
    if clock is not None:
      clock.append((float(np.mean(taus)), time))
    new = step(versions[-1], [f[3] for f in arrived], factors)
    if new is not None:
      versions.append(new)
    for f in arrived:
      del started[f[1]]
    if k + 1 < len(log):
      for c in log[k + 1][0]:
        assert int(c) not in started, f'client {c} started twice'
        started[int(c)] = (len(versions) - 1, time + duration(data, c, plan))
  return versions
