"""Routes of runs: the configs a run can start from, the runs list and its
live event stream, start, stop, resume, extend and delete, and a run's
metrics, clients, console and report."""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.parse

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from fedjax_sim.config.data import data_settings
from fedjax_sim.control import jobs, launch, runs_view, sweep_form, uploads
from fedjax_sim.control.replies import finite, read_body, reply, typed_field
from fedjax_sim.control.room import Room
from fedjax_sim.control.safety import Refused, inside
from fedjax_sim.rundir.report import REPORT_DIR, REPORT_HTML

CSV_CONFIG = 'hospitals.py'  # the config uploaded tables train with
# The data fields a run on an uploaded table may set.
CSV_FIELDS = ('data.label', 'data.features', 'data.client_column', 'data.partition',
              'data.num_clients', 'data.alpha')


def router(room: Room) -> APIRouter:
  """The routes of runs over `room`."""
  settings, runner = room.settings, room.runner
  runs_dir = settings.runs_dir
  api = APIRouter()

  @api.get('/api/configs')
  def configs():
    return reply({'configs': launch.config_catalog(settings.configs_dir),
                  'csv_config': CSV_CONFIG})

  @api.get('/api/configs/{name}')
  def config_fields(name: str):
    return reply({'name': name, 'fields': launch.form_fields(
        launch.load_config(settings.configs_dir, name))})

  @api.get('/api/runs')
  def runs():
    return reply({'runs': room.snapshot()})

  @api.post('/api/runs')
  async def start(request: Request):
    """Body: {name, config, fields: {dotted field: value}, dataset?}; a
    numeric field holding a list of values ('0.01, 0.1') sweeps it."""
    body = await read_body(request, settings.max_upload_bytes)
    name = body.get('name')
    config_file = typed_field(body, 'config', str, '')
    fields = typed_field(body, 'fields', dict, {})
    dataset = typed_field(body, 'dataset', str, '')
    if dataset:  # an uploaded table trains with the CSV config
      config_file = CSV_CONFIG
      fixed = [f for f in fields if f.startswith('data.') and f not in CSV_FIELDS]
      if fixed:
        raise Refused(f'{fixed[0]}: an uploaded data set sets only {", ".join(CSV_FIELDS)}')
    path = inside(runs_dir, name, 'name')
    if os.path.exists(path):
      raise Refused(f'name={name!r}: a run of that name exists; choose another', 409)

    def resolve():
      single, lists = sweep_form.split_lists(
          launch.load_config(settings.configs_dir, config_file), fields)
      config, typed = launch.resolve(settings.configs_dir, config_file, single)
      if dataset:
        typed['data.path'] = uploads.dataset_path(runs_dir, dataset)
        config.data.path = typed['data.path']
        uploads.check_choice(data_settings(config), config.seed, config.clients_per_round)
      # What scripts/train.py refuses before its first round (a sweep: every member).
      if lists or sweep_form.sweeps(config):
        return typed, sweep_form.check_sweep(config, lists)
      launch.preflight(config)
      return typed, {}

    typed, axes = await asyncio.to_thread(resolve)  # loading a table takes a while
    job = runner.submit(jobs.Job(name, config_file, typed, sweep=axes))
    return reply(job.as_json(), 201)

  @api.post('/api/runs/{name}/stop')
  async def stop(name: str, request: Request):
    await read_body(request, settings.max_upload_bytes)
    room.run_dir(name)
    return reply(runner.stop(name).as_json())

  @api.post('/api/runs/{name}/resume')
  async def resume(name: str, request: Request):
    """Continues a stopped run (one that trained no round starts afresh);
    with body {rounds: N}, extends a run to N rounds."""
    path = room.run_dir(name)
    previous = runner.job(name)
    if previous is None:
      raise Refused(f'run={name!r} was not started here; resume it with scripts/train.py '
                    '--resume', 409)
    overrides = dict(previous.overrides)
    body = await read_body(request, settings.max_upload_bytes)
    current = runs_view.summary(path, name, previous)['rounds']
    done = runs_view.rounds_done(path)
    if body.get('rounds') is not None:
      if current is None or not done:
        raise Refused(f'run={name!r} has no rounds to extend; resume or delete it', 409)
      overrides['rounds'] = launch.extension_rounds(body['rounds'], current)
    elif previous.status == jobs.FINISHED:
      raise Refused(f'run={name!r} is finished; extend it with more rounds', 409)
    elif previous.status == jobs.FAILED and not done:
      raise Refused(f'run={name!r} failed before its first round; delete it and start '
                    'it again', 409)
    job = jobs.Job(name, previous.config_file, overrides, previous.sweep, resume=done > 0,
                   start_round=done, created=previous.created)
    return reply(runner.submit(job, fresh=not done).as_json(), 201)

  @api.delete('/api/runs/{name}')
  def delete(name: str):
    """Removes a run that is not queued or running (nor unfinished and not
    started here: scripts/train.py may be writing it)."""
    path = room.run_dir(name)
    if runs_view.summary(path, name, runner.job(name))['status'] == runs_view.EXTERNAL:
      raise Refused(f'run={name!r} is unfinished and was not started here, so it may still '
                    'be training; remove its directory by hand', 409)
    runner.delete(name)
    room.models.forget(path)
    return reply({'deleted': name})

  @api.get('/api/runs/{name}/report.html')
  def report(name: str, request: Request):
    """The run's report (scripts/report.py), its figures' links with the token."""
    return report_page(room.run_dir(name), f'run={name!r}', request.query_params.get('token'))

  @api.get('/api/runs/{name}/report/{file}')
  def report_figure(name: str, file: str):
    return report_file(room.run_dir(name), f'run {name!r}', file)

  @api.get('/api/runs/{name}/metrics')
  def metrics(name: str):
    return reply({'run': name, 'metrics': runs_view.metrics_rows(room.run_dir(name))})

  @api.get('/api/runs/{name}/clients')
  def clients(name: str):
    return reply({'run': name, **runs_view.client_table(room.run_dir(name))})

  @api.get('/api/runs/{name}/console')
  def console(name: str):
    path = os.path.join(room.run_dir(name), jobs.CONSOLE)
    text = open(path, errors='replace').read()[-20000:] if os.path.exists(path) else ''
    return reply({'run': name, 'console': text})

  @api.get('/api/events')
  async def events(request: Request):
    """Server-sent events: the runs list whenever it changes."""

    async def stream():
      last = None
      while not await request.is_disconnected():
        data = json.dumps(finite({'runs': await asyncio.to_thread(room.snapshot)}),
                          allow_nan=False)
        if data != last:
          yield f'event: runs\ndata: {data}\n\n'
          last = data
        await asyncio.sleep(settings.poll_seconds)

    return StreamingResponse(stream(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-store'})

  return api


def report_page(run_dir: str, what: str, token: str | None) -> HTMLResponse:
  """`run_dir`'s report.html, its relative links (figures; a sweep's member
  reports) with the token."""
  path = os.path.join(run_dir, REPORT_HTML)
  if not os.path.isfile(path):
    raise Refused(f'{what} has no report yet (scripts/report.py writes it)', 404)
  html = open(path, errors='replace').read()
  if token:
    query = urllib.parse.urlencode({'token': token})
    html = re.sub(r'(src|href)="((?:members/[^"/?]+/)?(?:{}/[^"?]+|{}))"'.format(
        REPORT_DIR, re.escape(REPORT_HTML)), lambda m: f'{m.group(1)}="{m.group(2)}?{query}"',
        html)
  return HTMLResponse(html, headers={'Cache-Control': 'no-store'})


def report_file(run_dir: str, what: str, file: str) -> FileResponse:
  """A figure of `run_dir`'s report."""
  path = inside(os.path.join(run_dir, REPORT_DIR), file, 'file')
  if not os.path.isfile(path):
    raise Refused(f'file={file!r}: no such figure in the report of {what}', 404)
  return FileResponse(path)
