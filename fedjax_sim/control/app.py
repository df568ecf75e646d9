"""The control room's web app (FastAPI): start, stop, resume and extend runs,
compare them, look at clients, upload CSV data and predict.

`create_app(settings)` builds it; `scripts/dashboard.py` serves it with
uvicorn. Everything under /api needs the token when one is set (header
`Authorization: Bearer <token>`, or `?token=`; the script always sets one),
and POST bodies must declare JSON or CSV as their Content-Type. The
page and its scripts (plotly.js from the installed `plotly` package) are
served from here: nothing is fetched from the network. The routes are in
`routes/`, one module a group (runs, compare, data sets, predict).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from fedjax_sim.control import jobs, launch
from fedjax_sim.control.model_cache import Models
from fedjax_sim.control.replies import reply
from fedjax_sim.control.room import Room, Settings
from fedjax_sim.control.routes import compare, datasets, predict, runs, sweeps
from fedjax_sim.control.safety import Refused, token_ok
from fedjax_sim.errors import DataError

STATIC = os.path.join(os.path.dirname(__file__), 'static')
PLOTLY_JS = os.path.join(os.path.dirname(plotly.__file__), 'package_data', 'plotly.min.js')


def create_app(settings: Settings) -> FastAPI:
  """The app over `settings.runs_dir`; its runner stops with the app."""
  runs_dir = settings.runs_dir
  runner = jobs.Runner(runs_dir, lambda job: launch.command(
      job, settings.python, settings.train_script, settings.configs_dir, runs_dir))
  room = Room(settings, runner, Models())

  @contextlib.asynccontextmanager
  async def lifespan(app):
    yield
    await asyncio.to_thread(runner.close)

  app = FastAPI(title='fedjax_sim control room', lifespan=lifespan, docs_url=None,
                redoc_url=None, openapi_url=None)

  @app.exception_handler(Refused)
  async def refused(request: Request, error: Refused):
    return reply({'error': str(error)}, error.status)

  @app.exception_handler(DataError)
  async def unreadable(request: Request, error: DataError):
    """A run file edited by hand (job.json, config.json): its one line."""
    return reply({'error': str(error).replace(runs_dir + os.sep, '')}, 409)

  @app.middleware('http')
  async def check_token(request: Request, call_next):
    if request.url.path.startswith('/api/'):
      header = request.headers.get('authorization', '')
      given = header[7:] if header.startswith('Bearer ') else request.query_params.get('token')
      if not token_ok(settings.token, given):
        return reply({'error': 'missing or wrong token'}, 401)
    return await call_next(request)

  @app.get('/')
  def page():
    return FileResponse(os.path.join(STATIC, 'index.html'),
                        headers={'Cache-Control': 'no-store'})

  @app.get('/static/plotly.min.js')
  def plotly_js():
    return FileResponse(PLOTLY_JS, media_type='text/javascript')

  app.mount('/static', StaticFiles(directory=STATIC), name='static')
  for group in (runs, sweeps, compare, datasets, predict):
    app.include_router(group.router(room))
  return app
