"""The live dashboard: JSON API equals the files; a real headless browser plots every point."""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fedjax_sim.dashboard import make_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


REQUIRE_BROWSER = 'FEDJAX_SIM_REQUIRE_BROWSER'  # .ci/run sets it after .ci/setup succeeded.


def browser_or_reason(env, which):
  """Where chromium is, or why not and whether that must fail the tests.

  `env` is a mapping like os.environ and `which` a function like shutil.which.
  Returns `(path, None, False)` when chromium is on PATH, else
  `(None, reason, required)`: `required` is true when REQUIRE_BROWSER is set
  (to anything but '' or '0'), and then a missing browser is a failure, not a skip.
  """
  path = which('chromium')
  if path:
    return path, None, False
  required = env.get(REQUIRE_BROWSER, '') not in ('', '0')
  reason = "chromium is not on PATH; install it with 'bash .ci/setup' (Debian, as root)"
  if required:
    reason += f', {REQUIRE_BROWSER} is set, so the browser tests must run'
  return None, reason, required


@pytest.fixture
def chromium():
  """The chromium binary; skips the test without it, or fails it when required."""
  path, reason, required = browser_or_reason(os.environ, shutil.which)
  if path is None:
    (pytest.fail if required else pytest.skip)(reason)
  return path


def test_missing_browser_skips_unless_required():
  found = lambda name: f'/usr/bin/{name}'
  missing = lambda name: None
  assert browser_or_reason({}, found) == ('/usr/bin/chromium', None, False)
  assert browser_or_reason({REQUIRE_BROWSER: '1'}, found) == ('/usr/bin/chromium', None, False)
  for env in [{}, {REQUIRE_BROWSER: ''}, {REQUIRE_BROWSER: '0'}]:
    path, reason, required = browser_or_reason(env, missing)
    assert path is None and not required and 'bash .ci/setup' in reason
  path, reason, required = browser_or_reason({REQUIRE_BROWSER: '1'}, missing)
  assert path is None and required and 'bash .ci/setup' in reason and REQUIRE_BROWSER in reason


WINDOW = (1100, 800)
ACCURACY_MARKER = (255, 0, 0)  # The page's marker colors for accuracy and loss points.
LOSS_MARKER = (0, 0, 255)


def metrics_row(r):
  return {'round': r, 'time': 1.7e9 + r, 'accuracy': 0.3 + 0.05 * r, 'loss': 2.0 - 0.15 * r}


def append_rows(run_dir, rounds):
  """Appends metrics rows by hand, the way train.py writes them."""
  with open(os.path.join(run_dir, 'metrics.jsonl'), 'a') as f:
    for r in rounds:
      f.write(json.dumps(metrics_row(r)) + '\n')


def file_rows(run_dir):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.endswith('\n')]


@pytest.fixture
def serve(tmp_path):
  """Serves tmp_path on a free port in a thread; yields the base URL."""
  server = make_server(str(tmp_path), port=0)
  thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}'
  server.shutdown()
  server.server_close()
  thread.join()


def get(url):
  with urllib.request.urlopen(url, timeout=10) as response:
    return json.loads(response.read(), parse_constant=pytest.fail)


def test_api_returns_the_files_and_sees_appended_rows(tmp_path, serve):
  for run, rounds in [('run_b', [1, 2]), ('run_a', [1, 2, 3])]:
    os.makedirs(tmp_path / run)
    append_rows(str(tmp_path / run), rounds)
  os.makedirs(tmp_path / 'not_a_run')
  run_a = str(tmp_path / 'run_a')
  runs = get(serve + '/api/runs')['runs']
  assert runs == [{'id': 'run_a', 'evals': 3, 'last': file_rows(run_a)[-1]},
                  {'id': 'run_b', 'evals': 2, 'last': file_rows(str(tmp_path / 'run_b'))[-1]}]
  assert get(serve + '/api/metrics?run=run_a') == {'run': 'run_a', 'metrics': file_rows(run_a)}
  append_rows(run_a, [4])
  with open(os.path.join(run_a, 'metrics.jsonl'), 'a') as f:
    f.write('{"round": 5, "accura')  # Being written: not served yet.
  metrics = get(serve + '/api/metrics?run=run_a')['metrics']
  assert metrics == file_rows(run_a) and metrics[-1] == metrics_row(4)
  assert get(serve + '/api/runs')['runs'][0]['evals'] == 4


def test_api_sends_non_finite_floats_as_null(tmp_path, serve):
  (tmp_path / 'metrics.jsonl').write_text('{"round": 1, "loss": NaN, "accuracy": 0.5}\n')
  assert get(serve + '/api/metrics?run=.')['metrics'] == [
      {'round': 1, 'loss': None, 'accuracy': 0.5}]


def test_api_unknown_run_or_path_is_404(tmp_path, serve):
  os.makedirs(tmp_path / 'run')
  append_rows(str(tmp_path / 'run'), [1])
  for path in ['/api/metrics?run=' + urllib.parse.quote('../run'), '/api/metrics?run=nope',
               '/api/metrics', '/etc/passwd']:
    with pytest.raises(urllib.error.HTTPError) as error:
      urllib.request.urlopen(serve + path, timeout=10)
    assert error.value.code == 404


def test_page_is_self_contained(serve):
  with urllib.request.urlopen(serve + '/', timeout=10) as response:
    assert response.headers['Content-Type'].startswith('text/html')
    page = response.read().decode()
  assert '<script>' in page and 'src=' not in page and 'https://' not in page


def test_bad_workdir_is_one_clear_error(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'scripts', 'dashboard.py'),
       f'--workdir={tmp_path}/absent'], capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip() == (f"error: --workdir must be an existing directory, "
                                   f"got '{tmp_path}/absent'")


def count_markers(png_path, color):
  """Connected blobs of (nearly) exactly `color` in the screenshot."""
  with Image.open(png_path) as image:
    pixels = np.asarray(image.convert('RGB')).astype(int)
  mask = np.abs(pixels - np.array(color)).max(axis=-1) <= 8
  _, count = ndimage.label(mask)
  return count


def screenshot(chromium, url, path):
  """Headless chromium screenshot after the page's JS ran (virtual time)."""
  subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                  f'--screenshot={path}', f'--window-size={WINDOW[0]},{WINDOW[1]}',
                  '--virtual-time-budget=4000', url],
                 capture_output=True, timeout=120, check=True, cwd=os.path.dirname(path))


def test_browser_draws_one_marker_per_row(tmp_path, serve, chromium):
  run_dir = tmp_path / 'only_run'
  os.makedirs(run_dir)
  shots = tmp_path / 'shots'
  os.makedirs(shots)
  append_rows(str(run_dir), range(1, 6))
  shot = str(shots / 'first.png')
  screenshot(chromium, serve + '/', shot)
  assert count_markers(shot, ACCURACY_MARKER) == 5
  assert count_markers(shot, LOSS_MARKER) == 5
  append_rows(str(run_dir), range(6, 10))
  shot = str(shots / 'second.png')
  screenshot(chromium, serve + '/', shot)
  assert count_markers(shot, ACCURACY_MARKER) == 9
  assert count_markers(shot, LOSS_MARKER) == 9


def above_four(fd):
  """A duplicate of `fd` numbered 5 or more; closes `fd`."""
  new = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
  os.close(fd)
  return new


class DevTools:
  """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

  def __init__(self, chromium):
    to_chrome, self._write = os.pipe()
    self._read, from_chrome = os.pipe()
    # Move the child's ends above 4 so that the redirections below cannot clobber them.
    to_chrome, from_chrome = (above_four(fd) for fd in (to_chrome, from_chrome))
    args = ['--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe',
            f'--window-size={WINDOW[0]},{WINDOW[1]}', 'about:blank']
    # Chromium reads commands from fd 3 and writes replies to fd 4.
    self._proc = subprocess.Popen(
        ['bash', '-c', f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome}', chromium, *args],
        pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.close(to_chrome)
    os.close(from_chrome)
    self._buffer, self._id = b'', 0
    self.session = None

  def send(self, method, **params):
    self._id += 1
    message = {'id': self._id, 'method': method, 'params': params}
    if self.session:
      message['sessionId'] = self.session
    os.write(self._write, json.dumps(message).encode() + b'\0')
    while True:
      while b'\0' not in self._buffer:
        chunk = os.read(self._read, 1 << 16)
        assert chunk, 'chromium closed the DevTools pipe'
        self._buffer += chunk
      raw, self._buffer = self._buffer.split(b'\0', 1)
      reply = json.loads(raw)
      if reply.get('id') == self._id:
        assert 'error' not in reply, reply['error']
        return reply['result']

  def open(self, url):
    target = self.send('Target.createTarget', url=url)['targetId']
    self.session = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']

  def evaluate(self, expression):
    return self.send('Runtime.evaluate', expression=expression,
                     returnByValue=True)['result'].get('value')

  def wait_for(self, expression, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not self.evaluate(expression):
      assert time.monotonic() < deadline, f'timed out waiting for {expression}'
      time.sleep(0.1)

  def screenshot(self, path):
    with open(path, 'wb') as f:
      f.write(base64.b64decode(self.send('Page.captureScreenshot', format='png')['data']))

  def close(self):
    os.close(self._write)  # Chromium exits when its command pipe closes.
    try:
      self._proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
      self._proc.kill()
      self._proc.wait()
    os.close(self._read)


def test_browser_page_updates_without_reload(tmp_path, serve, chromium):
  run_dir = tmp_path / 'live_run'
  os.makedirs(run_dir)
  append_rows(str(run_dir), range(1, 4))
  circles = "document.querySelectorAll('circle').length"
  browser = DevTools(chromium)
  try:
    browser.open(serve + '/')
    browser.wait_for(f'{circles} === 6')
    shot = str(tmp_path / 'before.png')
    browser.screenshot(shot)
    assert count_markers(shot, ACCURACY_MARKER) == 3
    assert count_markers(shot, LOSS_MARKER) == 3
    browser.evaluate('window.sameDocument = true')
    append_rows(str(run_dir), range(4, 9))
    browser.wait_for(f'{circles} === 16')  # Picked up by polling.
    assert browser.evaluate('window.sameDocument') is True  # No reload happened.
    shot = str(tmp_path / 'after.png')
    browser.screenshot(shot)
    assert count_markers(shot, ACCURACY_MARKER) == 8
    assert count_markers(shot, LOSS_MARKER) == 8
  finally:
    browser.close()
