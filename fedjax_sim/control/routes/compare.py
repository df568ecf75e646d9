"""The compare route: the config fields in which runs differ, and each seed
group's mean and std per metric."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Query

from fedjax_sim.control import runs_view
from fedjax_sim.control.replies import reply
from fedjax_sim.control.room import Room
from fedjax_sim.control.safety import Refused
from fedjax_sim.errors import DataError
from fedjax_sim.rundir import comparison
from fedjax_sim.rundir import runlog


def router(room: Room) -> APIRouter:
  """The compare route over `room`."""
  api = APIRouter()

  @api.get('/api/compare')
  def compare(run: list[str] = Query(default=[])):
    """Config fields that differ, and seed groups' mean and std per metric."""
    nested = {n: _config(room.run_dir(n)) for n in run}
    loaded = [comparison.Run(n, runlog.flatten(nested[n]),
                             runs_view.metrics_rows(room.run_dir(n))) for n in run]
    groups = comparison.group_by_seed(loaded)
    metric_list = [m for m in comparison.metric_names(loaded) if m != 'wall_time']
    fields = comparison.differing_fields(loaded)
    return reply({
        'fields': fields, 'metrics': metric_list,
        'runs': [{'name': r.name, 'config': {f: _value(nested[r.name], f) for f in fields},
                  'rows': r.rows} for r in loaded],
        'groups': [{'label': g.label, 'runs': [r.name for r in g.runs],
                    'curves': {m: _curve(g, m) for m in metric_list}} for g in groups]})

  return api


def _config(path: str) -> dict[str, Any]:
  """The run's config.json (a hand-broken one is one line, 409)."""
  try:
    config = runlog.read_json(os.path.join(path, runlog.CONFIG)) or {}
  except DataError as e:
    raise Refused(str(e).replace(path, os.path.basename(path)), 409) from None
  return config if isinstance(config, dict) else {}


def _value(config: dict[str, Any], field: str) -> Any:
  """The value of dotted `field` in a nested config, lists as lists (the
  page shows a long one, such as data.features, by its length)."""
  for part in field.split('.'):
    if not isinstance(config, dict) or part not in config:
      return None
    config = config[part]
  return config


def _curve(group: comparison.Group, metric: str) -> dict[str, list[float]]:
  rounds, mean, std = comparison.group_curve(group, metric)
  return {'round': rounds, 'mean': mean.tolist(), 'std': std.tolist()}
