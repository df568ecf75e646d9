"""Routes of uploaded data sets: list them, store an uploaded CSV, delete one
no run trains on."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request

from fedjax_sim.control import runs_view, uploads
from fedjax_sim.control.replies import check_type, reply
from fedjax_sim.control.room import Room
from fedjax_sim.control.safety import Refused


def router(room: Room) -> APIRouter:
  """The routes of data sets over `room`."""
  settings = room.settings
  runs_dir = settings.runs_dir
  api = APIRouter()

  @api.get('/api/datasets')
  def list_datasets():
    return reply({'datasets': uploads.datasets(runs_dir)})

  @api.post('/api/datasets')
  async def upload(request: Request, name: str):
    """Body: the CSV file itself; `name` names the stored data set."""
    check_type(request, 'text/csv')
    declared = request.headers.get('content-length')
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes:
      raise Refused(f'the upload is larger than the limit of {settings.max_upload_bytes} '
                    'bytes', 413)
    stored = await uploads.store(runs_dir, name, request.stream(), settings.max_upload_bytes)
    return reply(stored, 201)

  @api.delete('/api/datasets/{name}')
  def delete(name: str):
    """Removes an uploaded data set; refused while any run (queued, running,
    or done: resuming and predicting read it) trains on it."""
    path = uploads.dataset_path(runs_dir, name)
    users = runs_view.data_users(runs_dir, path, room.runner.job)
    if users:
      raise Refused(f'dataset={name!r} is used by run(s) {", ".join(users)}; delete '
                    'them first', 409)
    os.unlink(path)
    return reply({'deleted': name})

  return api
