"""FedBuff composed with a stateful algorithm (SCAFFOLD), a robust
aggregator (trimmed mean), DP-FedAvg with adaptive clipping, and dropouts
and stragglers, each against a float64 event-driven per-client loop
(`fedbuff_reference`)."""

import jax
import numpy as np
import optax

from client_loop_reference import assert_trees_close, local_sgd, real_steps, to_numpy
from fedbuff_reference import eight_clients, event_loop, run
from fedjax_sim.behaviour import fedbuff
from fedjax_sim.aggregators.dp import DPOptions, dp_mean
from fedjax_sim.aggregators.trimmed_mean import trimmed_mean
from fedjax_sim.algorithms.fedavg import fedavg
from fedjax_sim.algorithms.scaffold import scaffold

LR, SERVER_LR = 0.3, 0.8
SETTINGS = fedbuff.Settings(buffer_size=2, concurrency=4, staleness='polynomial', exponent=0.5)


def delta(new, old):
  return jax.tree.map(np.subtract, new, old)


def scaled_sum(trees, scales):
  return jax.tree.map(lambda *leaves: sum(s * leaf for s, leaf in zip(scales, leaves)), *trees)


def fedavg_train(model, data, plan):
  """FedAvg's report: (model delta, example count) from the first
  `step_budgets` real steps; weight 0 if it does not report."""
  def train(x, client, clients_key, drawn):
    steps = real_steps(data, client, clients_key, plan)[:drawn.get('step_budgets', None)]
    local, _ = local_sgd(model, x, steps, LR)
    sent = drawn.get('reported', True) and bool(steps)
    return delta(local, x), float(data.counts[client]) * sent
  return train


def test_fedbuff_with_scaffold_matches_the_loop(tiny_mlp):
  data = eight_clients()
  params, plan, state, log = run(
      data, tiny_mlp, scaffold(tiny_mlp, LR, optax.sgd(SERVER_LR), data.num_clients,
                               clients_per_round=SETTINGS.buffer_size), SETTINGS, programs=7)
  controls = {c: jax.tree.map(np.zeros_like, to_numpy(params)) for c in range(8)}
  discounts = []

  def train(server, client, clients_key, drawn):
    x, c = server
    ci, steps = controls[client], real_steps(data, client, clients_key, plan)
    corrected = lambda g, w: jax.tree.map(lambda gi, cg, cc: gi + cg - cc, g, c, ci)
    y, _ = local_sgd(tiny_mlp, x, steps, LR, corrected)
    controls[client] = jax.tree.map(lambda a, b, xx, yy: a - b + (xx - yy) / (len(steps) * LR),
                                    ci, c, x, y)
    return delta(y, x), delta(controls[client], ci)

  def step(server, reports, factors):
    # model: the staleness-weighted mean; control: sum of discounted deltas / N
    x, c = server
    discounts.extend(factors)
    mean = jax.tree.map(lambda d: d / sum(factors), scaled_sum([r[0] for r in reports], factors))
    return (jax.tree.map(lambda a, d: a + SERVER_LR * d, x, mean),
            jax.tree.map(lambda a, d: a + d / 8, c, scaled_sum([r[1] for r in reports], factors)))

  zeros = jax.tree.map(np.zeros_like, to_numpy(params))
  versions = event_loop(data, plan, SETTINGS, log, (to_numpy(params), zeros), train, step)
  assert int(state.server.version) == len(versions) - 1 == 6
  assert_trees_close(state.server.params, versions[-1][0])
  assert_trees_close(state.server.inner.control, versions[-1][1])
  assert_trees_close(jax.tree.map(lambda a: a[3], state.clients), controls[3])
  assert min(discounts) < 1  # stale reports were discounted


def test_fedbuff_with_trimmed_mean_matches_the_loop(tiny_mlp):
  data = eight_clients()
  settings = SETTINGS._replace(buffer_size=4, concurrency=8)
  algorithm = fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(SERVER_LR))._replace(
      aggregator=trimmed_mean(0.25))  # of 4 reports, the middle 2 per coordinate
  params, plan, state, log = run(data, tiny_mlp, algorithm, settings, programs=6)

  def step(x, reports, factors):
    discounted = [jax.tree.map(lambda u, f=f: f * u, r[0]) for r, f in zip(reports, factors)]
    middle = jax.tree.map(lambda *u: np.sort(np.stack(u), axis=0)[1:3].mean(axis=0),
                          *discounted)
    return jax.tree.map(lambda a, d: a + SERVER_LR * d, x, middle)

  versions = event_loop(data, plan, settings, log, to_numpy(params),
                        fedavg_train(tiny_mlp, data, plan), step)
  assert int(state.server.version) == len(versions) - 1 == 5
  assert_trees_close(state.server.params, versions[-1])
  assert int(state.server.aggregator_metrics['trimmed_per_side']) == 1


def test_fedbuff_with_adaptive_dp_clipping_matches_the_loop(tiny_mlp):
  """DP-FedAvg without noise (z = 0, no count noise), so the loop is exact:
  each client clips with the C of when it trained, every server update is
  one release (sum of discounted clipped updates over m = K) and adapts C."""
  data = eight_clients()
  options = DPOptions(clip=0.4, noise_multiplier=0., expected_clients=SETTINGS.buffer_size,
                      adaptive=True, target_quantile=0.5, clip_learning_rate=0.5,
                      count_noise_multiplier=0.)
  algorithm = fedavg(tiny_mlp, optax.sgd(LR), optax.sgd(SERVER_LR))._replace(
      aggregator=dp_mean(options))
  params, plan, state, log = run(data, tiny_mlp, algorithm, SETTINGS, programs=8)
  train_fedavg, clipped = fedavg_train(tiny_mlp, data, plan), []

  def train(server, client, clients_key, drawn):
    x, clip = server
    update, _ = train_fedavg(x, client, clients_key, drawn)
    norm = np.sqrt(sum(np.sum(u ** 2) for u in jax.tree.leaves(update)))
    clipped.append(norm > clip)
    return jax.tree.map(lambda u: u * min(1., clip / norm), update), norm <= clip

  def step(server, reports, factors):
    x, clip = server
    mean = jax.tree.map(lambda s: s / options.expected_clients,
                        scaled_sum([r[0] for r in reports], factors))
    unclipped = sum(r[1] for r in reports) / options.expected_clients
    return (jax.tree.map(lambda a, d: a + SERVER_LR * d, x, mean),
            clip * np.exp(-options.clip_learning_rate * (unclipped - options.target_quantile)))

  versions = event_loop(data, plan, SETTINGS, log, (to_numpy(params), options.clip), train, step)
  assert any(clipped) and not all(clipped)  # both sides of the clip were exercised
  assert fedbuff.dp_releases(state.server) == len(versions) - 1 == 7
  assert_trees_close(state.server.params, versions[-1][0])
  np.testing.assert_allclose(state.server.aggregator.clip, versions[-1][1], rtol=1e-5)
  np.testing.assert_allclose(state.server.aggregator_metrics['clip_norm'], versions[-2][1],
                             rtol=1e-5)


def test_dropouts_report_nothing_and_stragglers_their_steps(tiny_mlp):
  data = eight_clients()
  drawn = [{'step_budgets': np.int32([1, 99]), 'reported': np.array([True, False])},
           {'step_budgets': np.int32([99, 2]), 'reported': np.array([True, True])},
           {'step_budgets': np.int32([99, 99]), 'reported': np.array([False, False])}]
  behaviour = lambda r: drawn[r % 3]  # noqa: E731
  params, plan, state, log = run(data, tiny_mlp, fedavg(tiny_mlp, optax.sgd(LR),
                                                        optax.sgd(SERVER_LR)),
                                 SETTINGS, programs=9, behaviour=behaviour)

  def step(x, reports, factors):
    total = sum(r[1] for r in reports)
    if not total:
      return None  # every report empty: no server update
    weighted = scaled_sum([r[0] for r in reports], [f * r[1] / total
                                                   for r, f in zip(reports, factors)])
    return jax.tree.map(lambda a, d: a + SERVER_LR * d, x, weighted)

  versions = event_loop(data, plan, SETTINGS, log, to_numpy(params),
                        fedavg_train(tiny_mlp, data, plan), step)
  assert int(state.server.version) == len(versions) - 1
  assert_trees_close(state.server.params, versions[-1])
  ids, _, _, weights, _ = log[0]  # a program that only fills: slots 0, 1 trained
  np.testing.assert_array_equal(weights, [data.counts[ids[0]], 0, 0, 0])
