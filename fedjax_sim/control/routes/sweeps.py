"""Routes of sweeps: a sweep's view (`sweep_view.view`: the grid over two
swept fields, the cells' curves, frozen members) and its members' reports."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Request

from fedjax_sim.control import sweep_view
from fedjax_sim.control.replies import reply
from fedjax_sim.control.room import Room
from fedjax_sim.control.routes.runs import report_file, report_page
from fedjax_sim.control.safety import Refused, inside
from fedjax_sim.rundir import sweep_record


def router(room: Room) -> APIRouter:
  """The routes of sweeps over `room`."""
  api = APIRouter()

  def member_dir(name: str, member: str) -> str:
    path = room.run_dir(name)
    if not sweep_view.is_sweep(path):
      raise Refused(f'run={name!r} is not a sweep (it has no sweep.json)', 404)
    return inside(os.path.join(path, sweep_record.MEMBERS), member, 'member')

  @api.get('/api/runs/{name}/sweep')
  async def sweep(name: str, x: str = '', y: str = ''):
    """The sweep's view, its grid over the swept fields `x` and `y`."""
    path = room.run_dir(name)
    return reply({'run': name, **await asyncio.to_thread(sweep_view.view, path, x, y)})

  @api.get('/api/runs/{name}/members/{member}/report.html')
  def member_report(name: str, member: str, request: Request):
    return report_page(member_dir(name, member), f'member {member} of sweep {name!r}',
                       request.query_params.get('token'))

  @api.get('/api/runs/{name}/members/{member}/report/{file}')
  def member_figure(name: str, member: str, file: str):
    return report_file(member_dir(name, member), f'member {member} of sweep {name!r}', file)

  return api
