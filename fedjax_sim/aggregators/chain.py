"""Aggregators in sequence, like `optax.chain`: `chain(clip(1.),
trimmed_mean(0.1), dp_noise(1., 1., 10))`.

Every stage's `prepare` runs on each client's update, in order; then every
stage's `combine` runs on the reduction, in order. The engine stacks the
updates when a stage needs them (`stacked`); that stage must come before
any stage that transforms the reduction, as it needs the clients' updates
and hands on one aggregate. Each stage gets its own key and state. In a
config: `aggregator.name='clip+trimmed_mean+dp_noise'`, each stage reading
its options from `config.aggregator`.
"""

from __future__ import annotations

import jax

from fedjax_sim.core.aggregator import Aggregator, Reduced, passthrough
from fedjax_sim.errors import ConfigError


def chain(*stages: Aggregator, names: tuple[str, ...] | None = None) -> Aggregator:
  """The stages as one aggregator; `names` (for errors) default to positions."""
  names = names or tuple(f'stage {k}' for k in range(len(stages)))
  stacked = [k for k, stage in enumerate(stages) if stage.stacked]
  if len(stacked) > 1:
    raise ConfigError(f'aggregator chain {"+".join(names)}: only one stage may reduce the '
                      f'stacked updates, got {", ".join(names[k] for k in stacked)}')
  if stacked:
    before = [names[k] for k in range(stacked[0]) if stages[k].combine is not passthrough]
    if before:
      raise ConfigError(f'aggregator chain {"+".join(names)}: {names[stacked[0]]} needs every '
                        f"client's update, so it must come before {before[0]}")

  def init():
    return tuple(stage.init() for stage in stages)

  def prepare(update, weight, state, key):
    stats = {}
    for k, stage in enumerate(stages):
      update, weight, more = stage.prepare(update, weight, state[k], jax.random.fold_in(key, k))
      stats.update(more)
    return update, weight, stats

  def combine(reduced: Reduced, state, key):
    states, metrics = [], {}
    for k, stage in enumerate(stages):
      reduced, new, more = stage.combine(reduced, state[k], jax.random.fold_in(key, k))
      states.append(new)
      metrics.update(more)
    return reduced, tuple(states), metrics

  return Aggregator(init, prepare, combine, stacked=bool(stacked))
