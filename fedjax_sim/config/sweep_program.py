"""A sweep group's program from its members' configs: one round program for
all of them, vmapped over a leading member axis (`fedjax_sim.run.sweep_loop`
runs it). The traced fields' values enter it as arrays and every part that
reads them (algorithm, aggregator, behaviour draws) is built inside it from
the config; the data set is built once and shared."""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P, SingleDeviceSharding

from fedjax_sim.config import behaviour as behaviour_lib
from fedjax_sim.config.experiment import algorithm_parts, build_experiment, reporters
from fedjax_sim.config.overrides import get_field
from fedjax_sim.config.schema import EngineSettings
from fedjax_sim.config.sections import from_section
from fedjax_sim.config.sweep import Group, Member, describe
from fedjax_sim.core import layout as layout_lib
from fedjax_sim.core import refusals
from fedjax_sim.core.layout import MEMORY_FRACTION
from fedjax_sim.core.round import make_round
from fedjax_sim.core.state import init_state
from fedjax_sim.data.batching import plan_batches
from fedjax_sim.data.packed import for_round
from fedjax_sim.errors import ConfigError
from fedjax_sim.evaluation.metrics import member_sums
from fedjax_sim.run import schedule as schedule_lib
from fedjax_sim.run.divergence import DivergenceSettings, checked_settings
from fedjax_sim.run.experiment import Experiment
from fedjax_sim.run.sweep_loop import SweepGroup

Log = Callable[[str], None]


def with_values(config: ml_collections.ConfigDict, values: dict[str, Any]
                ) -> ml_collections.ConfigDict:
  """A copy of `config` holding `values` (traced arrays) at their fields."""
  traced = config.copy_and_resolve_references()
  with traced.ignore_type():
    for field, value in values.items():
      parent, _, leaf = field.rpartition('.')
      (get_field(traced, parent) if parent else traced)[leaf] = value
  return traced


def _member_parts(member: Member, exp: Experiment, warn: Log) -> Experiment:
  """`exp` with the member's own reporters and run settings, its config's
  parts built concretely first, so a bad value is one line naming the member."""
  config = member.config
  try:
    algorithm_parts(config, exp.model, exp.dataset)
    behaviour_lib.draws_from_config(config, _plan(config, exp))
    settings = exp.settings._replace(seed=config.seed, divergence=checked_settings(
        from_section(config, 'divergence', DivergenceSettings)))
    return exp._replace(settings=settings, config_json=None, reporters=reporters(
        config, exp.dataset.train.num_clients, False, warn))
  except ConfigError as e:
    raise ConfigError(f'sweep member {member.index} ({describe(member)}): {e}') from None


def _plan(config: ml_collections.ConfigDict, exp: Experiment):
  return plan_batches(exp.dataset.train.max_examples, config.client.batch_size,
                      config.client.epochs, config.client.steps)


def _refuse(config: ml_collections.ConfigDict, exp: Experiment) -> None:
  """The sweep's refusals (`fedjax_sim.core.refusals`)."""
  refusals.refuse(refusals.SWEEP_POPULATION, exp.placement)
  refusals.refuse(refusals.SWEEP_CLOCK, behaviour_lib.clock_inputs(
      config, exp.model, exp.dataset) is not None)
  refusals.refuse(refusals.SWEEP_PROCESSES, jax.process_count())


def build_groups(group: Group, log: Log, warn: Log, max_members: int = 0
                 ) -> list[SweepGroup]:
  """The group's programs: its shared parts (data, model, evaluation: its
  first member's) and a vmapped round program over its members, in chunks of
  `max_members` (0: as many as fit in `MEMORY_FRACTION` of the free memory,
  by XLA's memory analysis of the compiled program)."""
  config = group.members[0].config
  exp = build_experiment(config, log, warn)
  _refuse(config, exp)
  experiments = {m.index: _member_parts(m, exp, warn) for m in group.members}
  init, step = _functions(config, exp, log)
  replicated = NamedSharding(exp.mesh, P()) if exp.mesh else SingleDeviceSharding(
      jax.devices()[0])
  stepped = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, 0, None, None)), donate_argnums=2,
                    out_shardings=replicated)
  initialized = jax.jit(jax.vmap(init), out_shardings=replicated)
  data = exp.place(for_round(exp.dataset.train))
  test, train = exp.place(dict(exp.dataset.test)), exp.place(exp.dataset.train)

  def program(members: tuple[Member, ...]) -> SweepGroup:
    values = {f: jnp.asarray([m.values[f] for m in members], jnp.float32)
              for f in group.traced if f != 'seed'}
    run_keys = jnp.stack([jax.random.PRNGKey(m.config.seed) for m in members])
    params = _initial_params(exp, members)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated),
                          jax.eval_shape(initialized, values, params))
    active = exp.place(np.ones(len(members), bool))
    compiled = stepped.lower(values, run_keys, shapes, active, np.int32(0), data).compile()
    return SweepGroup(
        exp, tuple(experiments[m.index] for m in members), tuple(m.index for m in members),
        lambda: initialized(values, params),
        lambda state, live, r: compiled(values, run_keys, state, exp.place(live),
                                        np.int32(r), data),
        _bytes(compiled),
        lambda state: member_sums(exp.model, state.server.params, test, train))

  size = max_members or len(group.members)
  programs = [program(group.members[i:i + size]) for i in range(0, len(group.members), size)]
  budget = MEMORY_FRACTION * _free_bytes(exp.mesh)
  if not max_members and size > 1 and programs[0].memory > budget:
    size = max(1, int(size * budget / programs[0].memory))
    log(f'sweep: {len(group.members)} members need {programs[0].memory / 2**20:.0f} MiB, '
        f'over {budget / 2**20:.0f} MiB: chunks of {size} members')
    programs = [program(group.members[i:i + size])
                for i in range(0, len(group.members), size)]
  return programs


def _functions(config: ml_collections.ConfigDict, exp: Experiment, log: Log
               ) -> tuple[Callable, Callable]:
  """`init(values, params) -> RoundState` and `step(values, run_key, state,
  active, round_index, data) -> (state, metrics, ids, ok)` of one member,
  its traced `values` built into the algorithm and the behaviour draws."""
  plan = _plan(config, exp)
  engine = from_section(config, 'engine', EngineSettings)
  drop = config.get('on_nonfinite', 'stop') == 'drop'
  counts = jnp.asarray(exp.dataset.train.counts)

  def algorithm(values):
    return algorithm_parts(with_values(config, values), exp.model, exp.dataset)[0]

  def init(values, params):
    return init_state(algorithm(values), params, exp.dataset.train.num_clients)

  def step(values, run_key, state, active, round_index, data):
    traced = with_values(config, values)
    draws = behaviour_lib.draws_from_config(traced, plan)
    sample_key, round_key = schedule_lib.keys_of_round(run_key, round_index)
    scheduled, _ = schedule_lib.synchronous(exp.sample_fn, draws, counts).next(
        None, None, sample_key)
    round_fn = make_round(algorithm(values), plan, engine.strategy, engine.chunk_size,
                          exp.mesh, log, drop_nonfinite=drop)
    new, metrics = round_fn(state, data, scheduled.ids, round_key, **scheduled.behaviour)
    ok = metrics['server_finite'] & (drop | (metrics['nonfinite_clients'] == 0))
    keep = active & ok  # a frozen or diverging member keeps its last good state
    new = jax.tree.map(lambda n, o: jnp.where(keep, n, o), new, state)
    return new, metrics, scheduled.ids, ok

  return init, step


def _initial_params(exp: Experiment, members: tuple[Member, ...]) -> Any:
  """Each member's initial model, stacked: `model.init` of its seed's key as a
  single run calls it (one member at a time: the same values, and faster to
  compile than the vmapped initializer's random draws)."""
  example = jnp.asarray(exp.dataset.test['x'][:1])
  params = [exp.model.init(jax.random.PRNGKey(m.config.seed), example) for m in members]
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *params)


def _bytes(compiled) -> int:
  """XLA's memory for a compiled program: arguments, outputs, temporaries."""
  memory = compiled.memory_analysis()
  return (memory.argument_size_in_bytes + memory.output_size_in_bytes
          + memory.temp_size_in_bytes - memory.alias_size_in_bytes)


def _free_bytes(mesh) -> int:
  """Free memory of the first device (on a CPU, of the host)."""
  free = layout_lib._free_bytes(layout_lib.first_device(mesh))
  return free or os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
