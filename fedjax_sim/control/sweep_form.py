"""A sweep from the control room's form: a numeric field holding a
comma-separated list of values (`0.01, 0.1, 0.3`) becomes a swept axis.

The run then starts as `scripts/train.py ... --sweep=<field>=<v1>,<v2>,...`
(docs/sweeps.md), and before anything is queued the form checks what the
command line checks: each value typed as its field (`sweep.with_flags`),
every member's config (`sweep.members`), the grouping (`sweep.groups`), and
`launch.preflight` of every member (its data, model, algorithm and
aggregator built as the script builds them; data in memory is loaded once).
"""

from __future__ import annotations

from typing import Any

from fedjax_sim.config import sweep as sweep_lib
from fedjax_sim.config.overrides import Config
from fedjax_sim.control import launch
from fedjax_sim.control.safety import Refused
from fedjax_sim.errors import ConfigError


def _is_number_field(config: Config, field: str) -> bool:
  """Whether dotted `field` of `config` holds an int or a float (not a bool)."""
  node = config
  *parents, leaf = field.split('.')
  for part in parents:
    node = node.get(part) if hasattr(node, 'get') else None
  if not hasattr(node, 'get_type') or leaf not in node:
    return False
  return node.get_type(leaf) in (int, float)


def split_lists(config: Config, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
  """`fields` split into single values (overrides) and the form's numeric
  fields given as a comma-separated list (swept axes, as typed)."""
  single, lists = {}, {}
  for field, value in fields.items():
    if (field in launch.FIELDS and isinstance(value, str) and ',' in value
        and _is_number_field(config, field)):
      lists[field] = value
    else:
      single[field] = value
  return single, lists


def check_sweep(config: Config, lists: dict[str, str]) -> dict[str, list]:
  """The typed values of each list in `lists` added as a sweep axis to
  `config` (which may sweep already, from its file), after the command
  line's checks of the sweep; Refused with its one line."""
  try:
    swept = sweep_lib.with_flags(config, [f'{f}={v}' for f, v in lists.items()], None)
    members = sweep_lib.members(swept)
    sweep_lib.groups(swept, members)  # for its refusals
    sweep_lib.max_members(swept)
  except ConfigError as e:
    raise Refused(str(e)) from None
  for member in members:  # the concrete parts' checks (a learning rate > 0, ...)
    try:
      launch.preflight(member.config)
    except Refused as e:
      raise Refused(f'sweep member {member.index} ({sweep_lib.describe(member)}): {e}') from None
  axes = sweep_lib.axes(swept)
  return {field: list(axes[field]) for field in lists}


def sweeps(config: Config) -> bool:
  """Whether `config` (its file) declares a sweep already."""
  try:
    return bool(sweep_lib.axes(config))
  except ConfigError as e:
    raise Refused(str(e)) from None
