"""Routes of a run's global model: what it takes, its download, and class
probabilities for rows given as JSON or as a CSV file, with each row's
predicted class and the features behind it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from fedjax_sim import export
from fedjax_sim.control import uploads
from fedjax_sim.control.explain import explain
from fedjax_sim.control.replies import check_type, read_body, reply
from fedjax_sim.control.room import Room
from fedjax_sim.control.safety import Refused
from fedjax_sim.data.csv_data import parse_table
from fedjax_sim.errors import DataError
from fedjax_sim.export import table_inputs

MAX_ROWS = 10_000  # rows per predict request
FLOAT32_MAX = float(np.finfo(np.float32).max)


def router(room: Room) -> APIRouter:
  """The routes of models over `room`."""
  settings, models = room.settings, room.models
  api = APIRouter()

  @api.get('/api/runs/{name}/model')
  def model_info(name: str):  # a thread of its own (a sync endpoint): loading takes a while
    exported = models.get(room.run_dir(name))
    columns = exported.columns
    return reply({'run': name, 'rounds_done': exported.rounds_done,
                  'class_names': exported.class_names,
                  'feature_names': list(columns.feature_names) if columns else None,
                  'inputs': int(np.prod(exported.input_shape))})

  @api.get('/api/runs/{name}/model.msgpack')
  async def download(name: str):
    path = room.run_dir(name)
    out = os.path.join(path, 'export')
    os.makedirs(out, exist_ok=True)
    exported = await asyncio.to_thread(models.get, path)
    file = os.path.join(out, f'model-round{exported.rounds_done}.msgpack')
    if not os.path.exists(file):
      export.write_model(exported, file)
    return FileResponse(file, media_type='application/octet-stream',
                        filename=f'{name}-round{exported.rounds_done}.msgpack')

  @api.post('/api/runs/{name}/predict')
  async def predict(name: str, request: Request):
    """Body: {rows: [[number, ...], ...]} of raw inputs; returns class
    probabilities per row."""
    rows = (await read_body(request, settings.max_upload_bytes)).get('rows')
    exported = await asyncio.to_thread(models.get, room.run_dir(name))
    x = _rows(rows, int(np.prod(exported.input_shape)))
    return reply(await asyncio.to_thread(_predictions, name, exported, x))

  @api.post('/api/runs/{name}/predict_csv')
  async def predict_csv(name: str, request: Request):
    """Body: a CSV file of rows, read as `scripts/predict.py --input` reads
    it (for CSV data the header names the feature columns, in any order)."""
    check_type(request, 'text/csv')
    text = await uploads.read_text(request.stream(), settings.max_upload_bytes)
    exported = await asyncio.to_thread(models.get, room.run_dir(name))
    try:
      x = table_inputs(parse_table(text, 'the uploaded rows'), exported)
    except DataError as e:
      raise Refused(str(e)) from None
    if len(x) > MAX_ROWS:
      raise Refused(f'the file has {len(x)} rows; expected at most {MAX_ROWS}')
    return reply(await asyncio.to_thread(_predictions, name, exported, x))

  return api


def _predictions(name: str, exported: export.ExportedModel, x: np.ndarray) -> dict[str, Any]:
  """Class probabilities of rows `x`, with each row's predicted class and the
  features behind it (`explain`)."""
  probabilities = exported.predict(x)
  return {'run': name, 'rounds_done': exported.rounds_done,
          'class_names': exported.class_names, 'probabilities': probabilities.tolist(),
          **explain(exported, x, probabilities)}


def _rows(rows: Any, inputs: int) -> np.ndarray:
  """`rows` as float64 `[n, inputs]`, refused unless each is `inputs` finite numbers."""
  if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
    raise Refused(f'rows: expected a list of 1 to {MAX_ROWS} rows')
  for k, row in enumerate(rows):
    if not (isinstance(row, list) and len(row) == inputs and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= FLOAT32_MAX
        for v in row)):
      raise Refused(f'rows[{k}]: expected {inputs} finite float32 numbers')
  return np.asarray(rows, np.float64)
