"""A sweep from a config: `config.sweep` names config fields and the values
each takes; its members are the grid's product (or the values zipped).

    config.sweep = sweep_section({'client.optimizer.learning_rate': (0.01, 0.1),
                                  'seed': (0, 1, 2)})

On the command line: `--sweep=client.optimizer.learning_rate=0.01,0.1
--sweep=seed=0,1,2` (`scripts/train.py`). Members that differ only in
`TRACEABLE` fields share one round program, vmapped over the members
(`fedjax_sim.config.sweep_program`); the others form groups run one after
another (`groups`).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from fedjax_sim.config.overrides import MISSING, coerce, get_field
from fedjax_sim.errors import ConfigError
from fedjax_sim.rundir import runlog

MODES = ('product', 'zip')
SETTINGS = ('mode', 'max_members', 'axes')  # of `config.sweep`
# Data sets held in memory; the others stream from disk and evaluate a
# subset of clients drawn with `seed`.
IN_MEMORY_DATA = ('digits', 'synthetic', 'csv', 'tfds')
# Fields whose values enter the round program as traced arrays. `seed` varies
# the model's initialization, the clients sampled and every round key, and is
# traced where `data.seed` keeps the data fixed (else each seed's data differs,
# and each seed is a group of its own).
TRACEABLE = (
    'seed',
    'client.optimizer.learning_rate', 'client.optimizer.momentum',
    'server.optimizer.learning_rate', 'server.optimizer.momentum',
    'fedprox.mu',
    'stragglers.fraction', 'dropout.probability',
    'aggregator.clip', 'aggregator.noise_multiplier',
)


class Member(NamedTuple):
  """One run of a sweep: its index, the swept fields' values, its config."""

  index: int
  values: dict[str, Any]
  config: ml_collections.ConfigDict


class Group(NamedTuple):
  """Members that share one round program; `traced` are the fields whose
  values differ between them."""

  members: tuple[Member, ...]
  traced: tuple[str, ...]


def sweep_section(axes: dict[str, tuple], mode: str = 'product') -> ml_collections.ConfigDict:
  """`config.sweep` of dotted fields -> values, for a config file."""
  section = ml_collections.ConfigDict({'mode': mode, 'max_members': 0,
                                       'axes': ml_collections.ConfigDict()})
  for field, values in axes.items():
    add_axis(section, field, tuple(values))
  return section


def add_axis(section: ml_collections.ConfigDict, field: str, values: tuple) -> None:
  """Sets the axis `field` (dotted) of a `config.sweep` section to `values`."""
  node = section.axes
  *parents, leaf = field.split('.')
  for part in parents:
    if part not in node:
      node[part] = ml_collections.ConfigDict()
    node = node[part]
    if not isinstance(node, ml_collections.ConfigDict):
      raise ConfigError(f'sweep: {field} overlaps another swept field')
  with section.ignore_type():
    node[leaf] = values


def parse_axis(text: str) -> tuple[str, tuple[str, ...]]:
  """`('a.b', ('1', '2'))` of a `--sweep=a.b=1,2` flag value."""
  field, sep, values = text.partition('=')
  parts = tuple(v.strip() for v in values.split(','))
  if not sep or not field.strip() or not all(parts):
    raise ConfigError(f'--sweep={text!r}: expected FIELD=VALUE,VALUE,... '
                      '(e.g. --sweep=client.optimizer.learning_rate=0.01,0.1)')
  return field.strip(), parts


def with_flags(config: ml_collections.ConfigDict, texts: list[str], mode: str | None
               ) -> ml_collections.ConfigDict:
  """`config` with the axes of `--sweep=FIELD=V1,V2` flags (values typed as
  the field is) added to its `sweep` section, and `--sweep_mode`."""
  if not texts and mode is None:
    return config
  config = config.copy_and_resolve_references()
  with config.unlocked():
    if config.get('sweep', None) is None:
      config.sweep = sweep_section({})
    given = [parse_axis(text)[0] for text in texts]
    twice = sorted({f for f in given if given.count(f) > 1})
    if twice:
      raise ConfigError(f'--sweep={twice[0]}=... is given {given.count(twice[0])} times; '
                        'give each field once, with all its values (FIELD=V1,V2,...)')
    for text in texts:
      field, values = parse_axis(text)
      kind = _field_type(config, field)
      add_axis(config.sweep, field, tuple(coerce(f'--sweep={field}', kind, v) for v in values))
    if mode is not None:
      config.sweep.mode = mode
  return config


def _field_type(config: ml_collections.ConfigDict, field: str) -> type:
  """The type of dotted `field` in `config`; a ConfigError if it has none."""
  parent, _, leaf = field.rpartition('.')
  node = get_field(config, parent) if parent else config
  if field.startswith('sweep') or not isinstance(node, ml_collections.ConfigDict) or (
      leaf not in node):
    raise ConfigError(f'--sweep={field}=...: the config has no such field')
  return node.get_type(leaf)


def axes(config: ml_collections.ConfigDict) -> dict[str, tuple]:
  """The swept fields and their values ({} when the config sweeps nothing)."""
  section = config.get('sweep', None)
  if section is None:
    return {}
  if set(section.keys()) - set(SETTINGS):
    unknown = sorted(set(section.keys()) - set(SETTINGS))[0]
    raise ConfigError(f'sweep.{unknown} is not a setting of sweep (its settings: '
                      f'{", ".join(SETTINGS)})')
  flat = runlog.flatten(section.get('axes', ml_collections.ConfigDict()).to_dict())
  out = {}
  for field, values in flat.items():
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if not values:
      raise ConfigError(f'sweep.axes.{field} must list at least one value, got ()')
    out[field] = values
  return out


def max_members(config: ml_collections.ConfigDict) -> int:
  """`sweep.max_members`: members per program (0: as many as fit in memory)."""
  value = config.sweep.get('max_members', 0) if axes(config) else 0
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ConfigError(f'sweep.max_members must be an integer >= 0 (0: as many as fit in '
                      f'memory), got {value!r}')
  return value


def members(config: ml_collections.ConfigDict) -> list[Member]:
  """Every member of `config`'s sweep (one member, the config itself, when
  it sweeps nothing), each config checked."""
  from fedjax_sim.config.checks import check_config
  grid = axes(config)
  mode = config.sweep.get('mode', 'product') if grid else 'product'
  if mode not in MODES:
    raise ConfigError(f'sweep.mode must be one of {list(MODES)}, got {mode!r}')
  base = _without_sweep(config)
  for field in grid:
    if field == 'sweep' or field.startswith('sweep.') or get_field(base, field) is MISSING:
      raise ConfigError(f'sweep.axes.{field}: the config has no such field')
  if mode == 'zip' and len({len(v) for v in grid.values()}) > 1:
    lengths = ', '.join(f'{k}: {len(v)}' for k, v in grid.items())
    raise ConfigError(f'sweep.mode=zip needs axes of one length, got {lengths}')
  rows = (zip(*grid.values()) if mode == 'zip' else itertools.product(*grid.values()))
  out = []
  for index, row in enumerate(rows):
    values = dict(zip(grid, row))
    member = base.copy_and_resolve_references()
    for field, value in values.items():
      parent, _, leaf = field.rpartition('.')
      node = get_field(member, parent) if parent else member
      node[leaf] = coerce(f'sweep.axes.{field}', node.get_type(leaf), value)
      values[field] = node[leaf]
    try:
      check_config(member)
    except ConfigError as e:
      raise ConfigError(f'sweep member {index} ({describe_values(values)}): {e}') from None
    out.append(Member(index, values, member))
  return out


def _without_sweep(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` without its `sweep` section."""
  copy = config.copy_and_resolve_references()
  if 'sweep' in copy:
    with copy.unlocked():
      del copy['sweep']
  return copy


def describe_values(values: dict[str, Any]) -> str:
  """`field=value, ...`."""
  return ', '.join(f'{k}={v!r}' for k, v in values.items())


def describe(member: Member) -> str:
  """`field=value, ...` of a member's swept values."""
  return describe_values(member.values)


def groups(config: ml_collections.ConfigDict, sweep: list[Member]) -> list[Group]:
  """The members grouped by everything but their traced fields, in order of
  their first member. `seed` is traced only where it decides nothing about
  the data (no attack, held-out split or personalization: those draw with it)."""
  traceable = set(TRACEABLE) - ({'seed'} if _seed_shapes_data(config) else set())
  if not all(_float32_count(m.config) for m in sweep):
    traceable.discard('stragglers.fraction')
  swept = set(axes(config))
  traced = tuple(f for f in TRACEABLE if f in swept & traceable)
  keyed: dict[tuple, list[Member]] = {}
  for member in sweep:
    key = tuple((f, repr(v)) for f, v in member.values.items() if f not in traced)
    keyed.setdefault(key, []).append(member)
  return [Group(tuple(ms), tuple(f for f in traced
                                 if len({repr(m.values[f]) for m in ms}) > 1))
          for ms in keyed.values()]


def _float32_count(config: ml_collections.ConfigDict) -> bool:
  """Whether the stragglers' count, `round(fraction * clients_per_round)`,
  is the same when the fraction is a float32 array (traced) as in float64."""
  fraction, k = config.stragglers.fraction, config.clients_per_round
  return round(fraction * k) == int(np.round(np.float32(fraction) * np.float32(k)))


def _seed_shapes_data(config: ml_collections.ConfigDict) -> bool:
  """Whether `config.seed` draws the data, its splits or attackers (not only
  keys): unless `data.seed` fixes the data, and no held-out split, attack,
  centralized pooling or streamed subset draws with it."""
  personal = config.get('personalization', {})
  attack = config.get('attack', {})
  return bool(config.data.get('seed', None) is None
              or config.get('client_eval_fraction', 0.) or config.get('centralized', False)
              or personal.get('client_test_fraction', 0.)
              or attack.get('kind', 'none') not in ('none', None)
              or config.data.get('name') not in IN_MEMORY_DATA)
