"""Live dashboard: a stdlib HTTP server over a directory of run directories.

Endpoints (all GET):
  /                     the dashboard page (inline JS, no external resources);
  /api/runs             {"runs": [{"id", "evals", "last"}]}, one per run;
  /api/metrics?run=ID   {"run": ID, "metrics": [rows of metrics.jsonl]}.
A run's id is its path relative to the served directory ('.' for the directory
itself). Non-finite floats are sent as null so browsers can parse the JSON.
"""

from __future__ import annotations

import json
import math
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fedjax_sim import runlog

PAGE_PATH = os.path.join(os.path.dirname(__file__), 'dashboard.html')


def _finite(value: Any) -> Any:
  """`value` with NaN / inf floats replaced by None, recursively."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: _finite(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_finite(v) for v in value]
  return value


def run_ids(root: str) -> dict[str, str]:
  """Run id -> run directory for every run under `root`."""
  return {os.path.relpath(run, root): run for run in runlog.find_runs(root)}


def list_runs(root: str) -> dict[str, Any]:
  """The /api/runs payload: each run with its number of evals and last row."""
  runs = []
  for run_id, path in run_ids(root).items():
    rows = runlog.read_jsonl(os.path.join(path, runlog.METRICS))
    runs.append({'id': run_id, 'evals': len(rows), 'last': rows[-1] if rows else None})
  return {'runs': runs}


def run_metrics(root: str, run_id: str) -> dict[str, Any] | None:
  """The /api/metrics payload of run `run_id`, or None if there is no such run."""
  path = run_ids(root).get(run_id)
  if path is None:
    return None
  return {'run': run_id, 'metrics': runlog.read_jsonl(os.path.join(path, runlog.METRICS))}


def make_handler(root: str) -> type[BaseHTTPRequestHandler]:
  """A request handler class serving the runs under `root`."""

  class Handler(BaseHTTPRequestHandler):

    def _send(self, status: int, body: bytes, content_type: str) -> None:
      self.send_response(status)
      self.send_header('Content-Type', content_type)
      self.send_header('Content-Length', str(len(body)))
      self.send_header('Cache-Control', 'no-store')
      self.end_headers()
      self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
      body = json.dumps(_finite(payload), allow_nan=False).encode()
      self._send(status, body, 'application/json')

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
      url = urlsplit(self.path)
      if url.path in ('/', '/index.html'):
        with open(PAGE_PATH, 'rb') as f:
          self._send(HTTPStatus.OK, f.read(), 'text/html; charset=utf-8')
      elif url.path == '/api/runs':
        self._json(HTTPStatus.OK, list_runs(root))
      elif url.path == '/api/metrics':
        run_id = parse_qs(url.query).get('run', [''])[0]
        payload = run_metrics(root, run_id)
        if payload is None:
          self._json(HTTPStatus.NOT_FOUND, {'error': f'no run {run_id!r}'})
        else:
          self._json(HTTPStatus.OK, payload)
      else:
        self._json(HTTPStatus.NOT_FOUND, {'error': f'no endpoint {url.path!r}'})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
      """Keeps the console quiet: one line per poll would drown it."""

  return Handler


def make_server(root: str, host: str = '127.0.0.1', port: int = 8765) -> ThreadingHTTPServer:
  """A (not yet serving) dashboard server; port 0 picks a free port."""
  server = ThreadingHTTPServer((host, port), make_handler(root))
  server.daemon_threads = True
  return server
