"""The control room's web app (FastAPI): start, stop, resume and extend runs,
compare them, look at clients, upload CSV data and predict.

`create_app(settings)` builds it; `scripts/dashboard.py` serves it with
uvicorn. Everything under /api needs the token when one is set (header
`Authorization: Bearer <token>`, or `?token=`; the script always sets one),
and POST bodies must declare JSON or CSV as their Content-Type. The
page and its scripts (plotly.js from the installed `plotly` package) are
served from here: nothing is fetched from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import threading
from typing import Any, NamedTuple

import numpy as np
import plotly
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from fedjax_sim import export
from fedjax_sim.rundir import comparison
from fedjax_sim.rundir import runlog
from fedjax_sim.rundir.workdir import CHECKPOINTS
from fedjax_sim.config.data import data_settings
from fedjax_sim.control import jobs, launch, runs_view, uploads
from fedjax_sim.control.safety import Refused, inside, token_ok
from fedjax_sim.data.csv_data import parse_table
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.export import table_inputs

STATIC = os.path.join(os.path.dirname(__file__), 'static')
PLOTLY_JS = os.path.join(os.path.dirname(plotly.__file__), 'package_data', 'plotly.min.js')
CSV_CONFIG = 'hospitals.py'  # the config uploaded tables train with
MAX_ROWS = 10_000  # rows per predict request
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The data fields a run on an uploaded table may set.
CSV_FIELDS = ('data.label', 'data.features', 'data.client_column', 'data.partition',
              'data.num_clients', 'data.alpha')


class Settings(NamedTuple):
  """Where runs live and how they start."""

  runs_dir: str
  configs_dir: str
  train_script: str
  token: str | None = None
  max_upload_bytes: int = 20 << 20
  python: str = sys.executable
  poll_seconds: float = 1.


def _finite(value: Any) -> Any:
  """`value` with NaN / inf floats replaced by None, recursively (JSON)."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: _finite(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_finite(v) for v in value]
  return value


def _json(payload: Any, status: int = 200) -> Response:
  return Response(json.dumps(_finite(payload), allow_nan=False), status,
                  media_type='application/json', headers={'Cache-Control': 'no-store'})


def newest_checkpoint(run_dir: str) -> int | None:
  """The round of the run's newest checkpoint directory (None: none yet)."""
  try:
    rounds = [int(d) for d in os.listdir(os.path.join(run_dir, CHECKPOINTS)) if d.isdigit()]
  except FileNotFoundError:
    return None
  return max(rounds, default=None)


class Models:
  """Each run's global model from its newest checkpoint, loaded once per
  checkpoint (building a run's model reads its data)."""

  def __init__(self):
    self._lock = threading.Lock()
    self._models: dict[str, tuple[int | None, export.ExportedModel]] = {}

  def get(self, run_dir: str) -> export.ExportedModel:
    newest = newest_checkpoint(run_dir)
    with self._lock:
      cached = self._models.get(run_dir)
      if cached is None or cached[0] != newest:
        name = os.path.basename(run_dir)
        try:
          cached = (newest, export.from_run(run_dir))
        except (ConfigError, DataError) as e:
          message = str(e).replace(f'--workdir {run_dir!r}', f'run {name!r}')
          raise Refused(message.replace(run_dir, name), 409) from None
        self._models[run_dir] = cached
      return cached[1]


def create_app(settings: Settings) -> FastAPI:
  """The app over `settings.runs_dir`; its runner stops with the app."""
  runs_dir = settings.runs_dir
  runner = jobs.Runner(runs_dir, lambda job: launch.command(
      job, settings.python, settings.train_script, settings.configs_dir, runs_dir))
  models = Models()

  @contextlib.asynccontextmanager
  async def lifespan(app):
    yield
    await asyncio.to_thread(runner.close)

  app = FastAPI(title='fedjax_sim control room', lifespan=lifespan, docs_url=None,
                redoc_url=None, openapi_url=None)

  @app.exception_handler(Refused)
  async def refused(request: Request, error: Refused):
    return _json({'error': str(error)}, error.status)

  @app.exception_handler(DataError)
  async def unreadable(request: Request, error: DataError):
    """A run file edited by hand (job.json, config.json): its one line."""
    return _json({'error': str(error).replace(runs_dir + os.sep, '')}, 409)

  @app.middleware('http')
  async def check_token(request: Request, call_next):
    if request.url.path.startswith('/api/'):
      header = request.headers.get('authorization', '')
      given = header[7:] if header.startswith('Bearer ') else request.query_params.get('token')
      if not token_ok(settings.token, given):
        return _json({'error': 'missing or wrong token'}, 401)
    return await call_next(request)

  def run_dir(name: str) -> str:
    path = inside(runs_dir, name, 'run')
    if name not in runs_view.run_names(runs_dir):
      raise Refused(f'run={name!r}: no such run', 404)
    return path

  def snapshot() -> list[dict[str, Any]]:
    return [runs_view.summary(os.path.join(runs_dir, name), name,
                              runner.job(name)) for name in runs_view.run_names(runs_dir)]

  @app.get('/')
  def page():
    return FileResponse(os.path.join(STATIC, 'index.html'),
                        headers={'Cache-Control': 'no-store'})

  @app.get('/static/plotly.min.js')
  def plotly_js():
    return FileResponse(PLOTLY_JS, media_type='text/javascript')

  app.mount('/static', StaticFiles(directory=STATIC), name='static')

  @app.get('/api/configs')
  def configs():
    return _json({'configs': launch.config_catalog(settings.configs_dir),
                  'csv_config': CSV_CONFIG})

  @app.get('/api/configs/{name}')
  def config_fields(name: str):
    return _json({'name': name, 'fields': launch.form_fields(
        launch.load_config(settings.configs_dir, name))})

  @app.get('/api/runs')
  def runs():
    return _json({'runs': snapshot()})

  @app.post('/api/runs')
  async def start(request: Request):
    """Body: {name, config, fields: {dotted field: value}, dataset?}."""
    body = await _body(request, settings.max_upload_bytes)
    name = body.get('name')
    config_file = _typed(body, 'config', str, '')
    fields = _typed(body, 'fields', dict, {})
    dataset = _typed(body, 'dataset', str, '')
    if dataset:  # an uploaded table trains with the CSV config
      config_file = CSV_CONFIG
      fixed = [f for f in fields if f.startswith('data.') and f not in CSV_FIELDS]
      if fixed:
        raise Refused(f'{fixed[0]}: an uploaded data set sets only {", ".join(CSV_FIELDS)}')
    path = inside(runs_dir, name, 'name')
    if os.path.exists(path):
      raise Refused(f'name={name!r}: a run of that name exists; choose another', 409)

    def resolve():
      config, typed = launch.resolve(settings.configs_dir, config_file, fields)
      if dataset:
        typed['data.path'] = uploads.dataset_path(runs_dir, dataset)
        config.data.path = typed['data.path']
        uploads.check_choice(data_settings(config), config.seed, config.clients_per_round)
      return typed

    typed = await asyncio.to_thread(resolve)  # loading a table takes a while
    job = runner.submit(jobs.Job(name, config_file, typed))
    return _json(job.as_json(), 201)

  @app.post('/api/runs/{name}/stop')
  async def stop(name: str, request: Request):
    await _body(request, settings.max_upload_bytes)
    run_dir(name)
    return _json(runner.stop(name).as_json())

  @app.post('/api/runs/{name}/resume')
  async def resume(name: str, request: Request):
    """Continues a stopped run; with body {rounds: N}, extends a run to N rounds."""
    path = run_dir(name)
    previous = runner.job(name)
    if previous is None:
      raise Refused(f'run={name!r} was not started here; resume it with scripts/train.py '
                    '--resume', 409)
    overrides = dict(previous.overrides)
    body = await _body(request, settings.max_upload_bytes)
    current = runs_view.summary(path, name, previous)['rounds']
    if body.get('rounds') is not None:
      rounds = body['rounds']
      if not (isinstance(rounds, int) and not isinstance(rounds, bool)):
        raise Refused(f'rounds={rounds!r}: expected an integer')
      if current is None or previous.status == jobs.FAILED and not runs_view.rounds_done(path):
        raise Refused(f'run={name!r} has no rounds to extend; start a new run', 409)
      if rounds <= current:
        raise Refused(f'rounds={rounds}: expected more than the run\'s {current} rounds')
      overrides['rounds'] = rounds
    elif previous.status == jobs.FINISHED:
      raise Refused(f'run={name!r} is finished; extend it with more rounds', 409)
    job = jobs.Job(name, previous.config_file, overrides, resume=True,
                   start_round=runs_view.rounds_done(path), created=previous.created)
    return _json(runner.submit(job).as_json(), 201)

  @app.get('/api/runs/{name}/metrics')
  def metrics(name: str):
    return _json({'run': name, 'metrics': runs_view.metrics_rows(run_dir(name))})

  @app.get('/api/runs/{name}/clients')
  def clients(name: str):
    return _json({'run': name, **runs_view.client_table(run_dir(name))})

  @app.get('/api/runs/{name}/console')
  def console(name: str):
    path = os.path.join(run_dir(name), jobs.CONSOLE)
    text = open(path, errors='replace').read()[-20000:] if os.path.exists(path) else ''
    return _json({'run': name, 'console': text})

  @app.get('/api/compare')
  def compare(run: list[str] = Query(default=[])):
    """Config fields that differ, and seed groups' mean and std per metric."""
    loaded = [comparison.Run(n, *_config_and_rows(run_dir(n))) for n in run]
    groups = comparison.group_by_seed(loaded)
    metric_list = [m for m in comparison.metric_names(loaded) if m != 'wall_time']
    fields = comparison.differing_fields(loaded)
    return _json({
        'fields': fields, 'metrics': metric_list,
        'runs': [{'name': r.name, 'config': {f: r.config.get(f) for f in fields},
                  'rows': r.rows} for r in loaded],
        'groups': [{'label': g.label, 'runs': [r.name for r in g.runs],
                    'curves': {m: _curve(g, m) for m in metric_list}} for g in groups]})

  @app.get('/api/datasets')
  def list_datasets():
    return _json({'datasets': uploads.datasets(runs_dir)})

  @app.post('/api/datasets')
  async def upload(request: Request, name: str):
    """Body: the CSV file itself; `name` names the stored data set."""
    _check_type(request, 'text/csv')
    declared = request.headers.get('content-length')
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes:
      raise Refused(f'the upload is larger than the limit of {settings.max_upload_bytes} '
                    'bytes', 413)
    stored = await uploads.store(runs_dir, name, request.stream(), settings.max_upload_bytes)
    return _json(stored, 201)

  @app.get('/api/runs/{name}/model')
  def model_info(name: str):  # a thread of its own (a sync endpoint): loading takes a while
    exported = models.get(run_dir(name))
    columns = exported.columns
    return _json({'run': name, 'rounds_done': exported.rounds_done,
                  'class_names': exported.class_names,
                  'feature_names': list(columns.feature_names) if columns else None,
                  'inputs': int(np.prod(exported.input_shape))})

  @app.get('/api/runs/{name}/model.msgpack')
  async def download(name: str):
    path = run_dir(name)
    out = os.path.join(path, 'export')
    os.makedirs(out, exist_ok=True)
    exported = await asyncio.to_thread(models.get, path)
    file = os.path.join(out, f'model-round{exported.rounds_done}.msgpack')
    if not os.path.exists(file):
      export.write_model(exported, file)
    return FileResponse(file, media_type='application/octet-stream',
                        filename=f'{name}-round{exported.rounds_done}.msgpack')

  @app.post('/api/runs/{name}/predict')
  async def predict(name: str, request: Request):
    """Body: {rows: [[number, ...], ...]} of raw inputs; returns class
    probabilities per row."""
    rows = (await _body(request, settings.max_upload_bytes)).get('rows')
    exported = await asyncio.to_thread(models.get, run_dir(name))
    x = _rows(rows, int(np.prod(exported.input_shape)))
    probabilities = await asyncio.to_thread(exported.predict, x)
    return _json({'run': name, 'rounds_done': exported.rounds_done,
                  'class_names': exported.class_names,
                  'probabilities': probabilities.tolist()})

  @app.post('/api/runs/{name}/predict_csv')
  async def predict_csv(name: str, request: Request):
    """Body: a CSV file of rows, read as `scripts/predict.py --input` reads
    it (for CSV data the header names the feature columns, in any order)."""
    _check_type(request, 'text/csv')
    text = await uploads.read_text(request.stream(), settings.max_upload_bytes)
    exported = await asyncio.to_thread(models.get, run_dir(name))
    try:
      x = table_inputs(parse_table(text, 'the uploaded rows'), exported)
    except DataError as e:
      raise Refused(str(e)) from None
    if len(x) > MAX_ROWS:
      raise Refused(f'the file has {len(x)} rows; expected at most {MAX_ROWS}')
    probabilities = await asyncio.to_thread(exported.predict, x)
    return _json({'run': name, 'rounds_done': exported.rounds_done,
                  'class_names': exported.class_names,
                  'probabilities': probabilities.tolist()})

  @app.get('/api/events')
  async def events(request: Request):
    """Server-sent events: the runs list whenever it changes."""

    async def stream():
      last = None
      while not await request.is_disconnected():
        data = json.dumps(_finite({'runs': await asyncio.to_thread(snapshot)}),
                          allow_nan=False)
        if data != last:
          yield f'event: runs\ndata: {data}\n\n'
          last = data
        await asyncio.sleep(settings.poll_seconds)

    return StreamingResponse(stream(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-store'})

  return app


async def _body(request: Request, max_bytes: int) -> dict[str, Any]:
  """The request's JSON object body ({} when empty), at most `max_bytes`."""
  _check_type(request, 'application/json')
  raw = await uploads.read_text(request.stream(), max_bytes)
  if not raw:
    return {}
  try:
    body = json.loads(raw)
  except ValueError:
    raise Refused('the request body is not JSON') from None
  if not isinstance(body, dict):
    raise Refused('the request body must be a JSON object')
  return body


def _check_type(request: Request, kind: str) -> None:
  """Refuses a POST whose Content-Type is not `kind`: a page of another site
  cannot send JSON or CSV without the browser asking first (CORS), which this
  server never allows, so such a page cannot drive it."""
  if request.headers.get('content-type', '').split(';')[0].strip() != kind:
    raise Refused(f'expected Content-Type: {kind}', 415)


def _typed(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
  """`body[key]` if it is a `kind` (`default` when absent or null)."""
  value = body.get(key)
  if value is None:
    return default
  if not isinstance(value, kind):
    raise Refused(f'{key}={value!r}: expected {kind.__name__}')
  return value


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


def _config_and_rows(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
  try:
    config = runlog.read_json(os.path.join(path, runlog.CONFIG)) or {}
  except DataError as e:
    raise Refused(str(e).replace(path, os.path.basename(path)), 409) from None
  return runlog.flatten(config), runs_view.metrics_rows(path)


def _curve(group: comparison.Group, metric: str) -> dict[str, list[float]]:
  rounds, mean, std = comparison.group_curve(group, metric)
  return {'round': rounds, 'mean': mean.tolist(), 'std': std.tolist()}
