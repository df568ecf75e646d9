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
    loaded = [comparison.Run(n, *_config_and_rows(room.run_dir(n))) for n in run]
    groups = comparison.group_by_seed(loaded)
    metric_list = [m for m in comparison.metric_names(loaded) if m != 'wall_time']
    fields = comparison.differing_fields(loaded)
    return reply({
        'fields': fields, 'metrics': metric_list,
        'runs': [{'name': r.name, 'config': {f: r.config.get(f) for f in fields},
                  'rows': r.rows} for r in loaded],
        'groups': [{'label': g.label, 'runs': [r.name for r in g.runs],
                    'curves': {m: _curve(g, m) for m in metric_list}} for g in groups]})

  return api


def _config_and_rows(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
  try:
    config = runlog.read_json(os.path.join(path, runlog.CONFIG)) or {}
  except DataError as e:
    raise Refused(str(e).replace(path, os.path.basename(path)), 409) from None
  return runlog.flatten(config), runs_view.metrics_rows(path)


def _curve(group: comparison.Group, metric: str) -> dict[str, list[float]]:
  rounds, mean, std = comparison.group_curve(group, metric)
  return {'round': rounds, 'mean': mean.tolist(), 'std': std.tolist()}
