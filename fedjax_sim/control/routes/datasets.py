"""Routes of uploaded data sets: list them, and store an uploaded CSV."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fedjax_sim.control import uploads
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

  return api
