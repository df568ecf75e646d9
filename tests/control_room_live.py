"""The control room served in this process for the fast browser tests: the
app over a fresh runs directory with the stand-in training script
(`tests/fake_train.py`), a Chromium driver, and helpers to call the API and
drive the page."""

import json
import os
import shutil
import socket
import threading
import urllib.request

import pytest
import uvicorn

from control_room_helpers import settings
from control_room_page import browser_or_reason, text, wait
from fedjax_sim.control import create_app

TOKEN = 'live-page-token-0123456789'


def serve(app, runs, shutdown_seconds: float = 60):
  """Serves `app` on a free port in a thread: yields (page URL, `runs`), then
  stops the server."""
  server = uvicorn.Server(uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=1))
  sock = socket.create_server(('127.0.0.1', 0))
  thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
  thread.start()
  wait(None, lambda: server.started, 30, 'the server')
  yield f'http://127.0.0.1:{sock.getsockname()[1]}/', runs
  server.should_exit = True
  thread.join(shutdown_seconds)


@pytest.fixture(scope='module')
def served(tmp_path_factory):
  """The app over a fresh runs directory on a free port: (page URL, runs dir)."""
  runs = tmp_path_factory.mktemp('runs')
  yield from serve(create_app(settings(runs, token=TOKEN, poll_seconds=0.2)), runs)


@pytest.fixture(scope='module')
def browser():
  chromium, driver, reason, required = browser_or_reason(os.environ, shutil.which)
  if chromium is None:
    (pytest.fail if required else pytest.skip)(reason)
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  for arg in ['--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,1000']:
    options.add_argument(arg)
  driver = webdriver.Chrome(service=Service(driver), options=options)
  driver.set_page_load_timeout(30)  # a page that cannot get a connection fails, not hangs
  yield driver
  driver.quit()


def call(base, path, body=None, method=None):
  request = urllib.request.Request(
      base + path.lstrip('/'), method=method or ('POST' if body is not None else 'GET'),
      data=None if body is None else json.dumps(body).encode(),
      headers={'Authorization': f'Bearer {TOKEN}', 'Content-Type': 'application/json'})
  with urllib.request.urlopen(request, timeout=30) as response:
    return json.loads(response.read())


def open_page(browser, base, query=''):
  browser.get(f'{base}?token={TOKEN}{query}')
  wait(browser, lambda: text(browser, 'connection') == 'live', 30, 'live updates')


def set_field(browser, field, value):
  box = browser.find_element('id', 'field-' + field.replace('.', '-'))
  box.clear()
  box.send_keys(str(value))


def click_and_confirm(browser, element_id):
  browser.find_element('id', element_id).click()
  wait(browser, lambda: _alert(browser), 10, 'the confirmation')
  browser.switch_to.alert.accept()


def _alert(browser):
  try:
    return browser.switch_to.alert.text
  except Exception:
    return None


def write_run(run_dir, rows, report=False):
  """A finished run as scripts/train.py (and scripts/report.py) write it."""
  os.makedirs(run_dir)
  (run_dir / 'config.json').write_text(json.dumps({'rounds': len(rows), 'seed': 0}))
  (run_dir / 'client_norms.jsonl').write_text(''.join(
      json.dumps({'round': r + 1, 'clients': [], 'norms': []}) + '\n' for r in range(len(rows))))
  (run_dir / 'metrics.jsonl').write_text(''.join(
      json.dumps({'round': r + 1, 'rounds_per_sec': 1., **row}) + '\n'
      for r, row in enumerate(rows)))
  if report:
    (run_dir / 'report.html').write_text('<h1>report</h1>')
