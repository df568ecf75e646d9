"""The control room in a real browser (Debian chromium + chromium-driver,
driven by Selenium; `.ci/setup` installs them): upload a CSV, start a run,
watch its curve grow, stop and resume it, compare two runs, look at the
clients, and predict, checking the probabilities against scripts/predict.py.

The tests share one server and run in order (the later ones use the runs
the first ones started). With FEDJAX_SIM_SCREENSHOTS=DIR they save a
screenshot of each page there (docs/control_room_*.png came from this).
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from sklearn import datasets

from control_room_page import (browser_or_reason, js, points, select, shoot, start_run, status,
                               tab, text, wait)
from fedjax_sim.export import load_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSPITALS = ('north', 'south', 'east', 'west')
RUN, OTHER = 'cancer-a', 'cancer-b'


@pytest.fixture(scope='module')
def runs_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('runs')


@pytest.fixture(scope='module')
def server(runs_dir, tmp_path_factory):
  """scripts/dashboard.py on a free port; yields its URL."""
  log = tmp_path_factory.mktemp('server') / 'server.log'
  with open(log, 'w') as out:
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'scripts', 'dashboard.py'),
         f'--workdir={runs_dir}', '--port=0'], stdout=out, stderr=subprocess.STDOUT)
  line = wait(None, lambda: log.read_text(), what='the server to start')
  assert re.match(r'Control room of .* at http://127\.0\.0\.1:\d+/\?token=[\w-]{22} ', line), line
  yield line.split(' at ')[1].split()[0]
  process.terminate()
  process.wait(60)
  print(log.read_text())


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
  yield driver
  driver.quit()


@pytest.fixture(scope='module')
def cancer_csv(tmp_path_factory):
  """The breast-cancer table with a `hospital` column, as a user would have it."""
  bunch = datasets.load_breast_cancer()
  rng = np.random.default_rng(0)
  path = tmp_path_factory.mktemp('upload') / 'cancer.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['hospital', *bunch.feature_names, 'diagnosis'])
    for x, t in zip(bunch.data, bunch.target):
      writer.writerow([HOSPITALS[rng.integers(4)], *x, bunch.target_names[t]])
  return path


def test_without_the_printed_token_the_api_refuses(server):
  base = server.split('?')[0]
  with pytest.raises(urllib.error.HTTPError) as error:
    urllib.request.urlopen(base + 'api/runs', timeout=30)
  assert error.value.code == 401
  with urllib.request.urlopen(server.replace('/?', '/api/runs?'), timeout=30) as response:
    assert json.loads(response.read()) == {'runs': []}


def test_upload_start_watch_stop_resume(server, browser, cancer_csv, runs_dir):
  browser.get(server)
  wait(browser, lambda: text(browser, 'connection') == 'live', what='live updates')
  tab(browser, 'data')
  browser.find_element('id', 'upload-file').send_keys(str(cancer_csv))
  assert browser.find_element('id', 'upload-name').get_attribute('value') == 'cancer'
  browser.find_element('id', 'upload-button').click()
  wait(browser, lambda: 'stored cancer: 569 rows, 32 columns' in text(browser, 'upload-message'),
       what=lambda: text(browser, 'upload-message'))
  shoot(browser, 'data')

  # A bad choice is refused in the page, before any run starts.
  tab(browser, 'runs')
  select(browser, 'dataset-select', 'cancer')
  wait(browser, lambda: browser.find_elements('id', 'field-rounds'))
  select(browser, 'label-select', 'hospital')
  select(browser, 'client-source', 'column')
  select(browser, 'client-column', 'diagnosis')
  browser.find_element('id', 'run-name').clear()
  browser.find_element('id', 'run-name').send_keys('bad-choice')
  browser.find_element('id', 'start-button').click()
  wait(browser, lambda: text(browser, 'start-message') == (
      'clients_per_round=5 exceeds the 2 clients of cancer.csv (client column '
      "'diagnosis')"), what=lambda: text(browser, 'start-message'))
  assert not os.path.exists(runs_dir / 'bad-choice')

  start_run(browser, RUN, rounds=1500, eval_every=50, clients_per_round=4)
  wait(browser, lambda: points(browser) >= 3, what='3 evaluations on the live chart')
  seen = points(browser)
  wait(browser, lambda: points(browser) > seen, what='the curve to grow')
  assert 'round' in text(browser, f'progress-{RUN}') and 'of 1500' in text(browser, f'progress-{RUN}')
  assert text(browser, f'eta-{RUN}').endswith(' s')
  shoot(browser, 'runs')
  browser.find_element('id', f'stop-{RUN}').click()
  wait(browser, lambda: status(browser, RUN) == 'stopped', what='stopped')
  stopped_at = int(text(browser, f'progress-{RUN}').split()[1])
  assert 0 < stopped_at < 1500
  browser.find_element('id', f'resume-{RUN}').click()
  wait(browser, lambda: status(browser, RUN) == 'finished', timeout=180, what='finished')
  assert text(browser, f'progress-{RUN}') == 'round 1500 of 1500'
  assert points(browser) == 30  # every evaluation once: resume dropped none, repeated none
  console = (runs_dir / RUN / 'console.log').read_text()
  assert f'interrupted after round {stopped_at}' in console
  assert f'resumed {runs_dir / RUN} after round {stopped_at}' in console


def test_compare_two_runs_on_one_chart(server, browser):
  start_run(browser, OTHER, rounds=300, eval_every=50, clients_per_round=4, seed=1)
  wait(browser, lambda: status(browser, OTHER) == 'finished', timeout=180, what='second run')
  for name in (RUN, OTHER):
    browser.find_element('css selector', f'input.select-run[data-run="{name}"]').click()
  tab(browser, 'compare')
  wait(browser, lambda: js(browser, "const c = document.getElementById('compare-chart');"
                                    "return c.data && c.data.length === 2;"))
  names = js(browser, "return document.getElementById('compare-chart').data.map(t => t.name);")
  lengths = js(browser, "return document.getElementById('compare-chart').data.map(t => t.x.length);")
  assert names == [RUN, OTHER] and lengths == [30, 6]
  header = [th.text for th in browser.find_elements('css selector', '#compare-config th')]
  assert header == ['run', 'rounds', 'seed', RUN, OTHER]
  select(browser, 'compare-x', 'wall_time')
  wait(browser, lambda: js(browser, "return document.getElementById('compare-chart').layout"
                                    ".xaxis.title.text;") == 'training wall time (s)')
  shoot(browser, 'compare')


def test_compare_against_virtual_time(server, browser, runs_dir):
  tab(browser, 'compare')
  select(browser, 'compare-x', 'virtual_time')
  wait(browser, lambda: 'None of these runs is on the virtual clock' in text(
      browser, 'compare-message'), what='no-clock message')
  # A run on the virtual clock (written as scripts/train.py would) joins them.
  (runs_dir / 'clocked').mkdir()
  (runs_dir / 'clocked' / 'config.json').write_text(json.dumps({'rounds': 3, 'seed': 2}))
  (runs_dir / 'clocked' / 'metrics.jsonl').write_text(''.join(
      json.dumps({'round': r, 'test_accuracy': a, 'virtual_time': t, 'rounds_per_sec': 1.})
      + '\n' for r, a, t in [(1, 0.5, 61.5), (2, 0.6, 130.), (3, 0.7, 181.25)]))
  tab(browser, 'runs')
  wait(browser, lambda: browser.find_elements(
      'css selector', 'input.select-run[data-run="clocked"]'), what='clocked run listed')
  browser.find_element('css selector', 'input.select-run[data-run="clocked"]').click()
  tab(browser, 'compare')
  chart = "const c = document.getElementById('compare-chart');"
  wait(browser, lambda: js(browser, chart + "return c.data && c.data.length === 3;"))
  data = js(browser, chart + "return c.data.map(t => [t.name, t.x, t.y]);")
  assert data == [[RUN, [], []], [OTHER, [], []], ['clocked', [61.5, 130, 181.25], [0.5, 0.6, 0.7]]]
  assert js(browser, chart + "return c.layout.xaxis.title.text;") == 'virtual time (s)'
  assert text(browser, 'compare-message') == ''
  tab(browser, 'runs')
  browser.find_element('css selector', 'input.select-run[data-run="clocked"]').click()


def test_clients_page_shows_each_hospital(server, browser, runs_dir):
  tab(browser, 'clients')
  select(browser, 'clients-run', RUN)
  # The table drawn for the finished run (the page drew it in the background
  # too, when the run first had a round and no evaluation yet).
  wait(browser, lambda: 'at round 1500;' in text(browser, 'clients-note')
       and len(browser.find_elements('css selector', '#clients-table tbody tr')) == 4,
       what=lambda: text(browser, 'clients-note'))
  # One snapshot in the page: live updates may redraw the table meanwhile.
  rows = js(browser, "return [...document.querySelectorAll('#clients-table tbody tr')]"
                     ".map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()));")
  assert [r[1] for r in rows] == sorted(HOSPITALS)  # clients are the sorted column values
  assert all(r[3] == '1500' for r in rows)  # every hospital trains every round
  histogram = js(browser, "return document.getElementById('clients-chart').data[0].x.length;")
  assert histogram == 4
  shoot(browser, 'clients')


def test_predict_matches_the_cli_and_the_download(server, browser, cancer_csv, runs_dir, tmp_path):
  with open(cancer_csv) as f:
    header, *rows = list(csv.reader(f))
  row = rows[7]
  features = header[1:-1]
  tab(browser, 'predict')
  select(browser, 'predict-run', RUN)
  # The form is filled by the newest load only (the page loaded the model
  # once already, when the run's first checkpoint appeared).
  wait(browser, lambda: text(browser, 'predict-info').startswith(f'Global model of {RUN} after round 1500;')
       and len(browser.find_elements('css selector', '#predict-inputs input')) == 30,
       what=lambda: text(browser, 'predict-info') + ' ' + text(browser, 'predict-message'))
  for i, name in enumerate(features):
    box = browser.find_element('id', f'predict-{i}')
    assert box.get_attribute('data-feature') == name
    box.send_keys(row[i + 1])
  browser.find_element('id', 'predict-button').click()
  wait(browser, lambda: browser.find_elements('css selector', '#predict-table td.probability'),
       what=lambda: text(browser, 'predict-message'))
  page = [float(td.get_attribute('data-value'))  # the text is for people: '97.3 %'
          for td in browser.find_elements('css selector', '#predict-table td.probability')]
  classes = [th.text for th in browser.find_elements('css selector', '#predict-table th.class-name')]
  shoot(browser, 'predict')

  one_row = tmp_path / 'row.csv'
  with open(one_row, 'w', newline='') as f:
    csv.writer(f).writerows([header, row])
  cli = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'predict.py'),
                        f'--workdir={runs_dir / RUN}', f'--input={one_row}'],
                       capture_output=True, text=True, timeout=180)
  assert cli.returncode == 0, cli.stderr
  cli_header, cli_row = [line.split(',') for line in cli.stdout.strip().split('\n')]
  assert cli_header == [f'p_{c}' for c in classes] + ['predicted']
  np.testing.assert_allclose(page, [float(v) for v in cli_row[:-1]], atol=1e-6)

  # Uploaded rows (features in another order, the label column ignored), as
  # scripts/predict.py reads a file.
  order = [0, *range(len(header) - 1, 0, -1)]
  rows_file = tmp_path / 'rows.csv'
  with open(rows_file, 'w', newline='') as f:
    csv.writer(f).writerows([[r[k] for k in order] for r in [header, *rows[10:13]]])
  browser.find_element('id', 'predict-file').send_keys(str(rows_file))
  browser.find_element('id', 'predict-button').click()
  wait(browser, lambda: len(browser.find_elements('css selector', '#predict-table tr')) == 4)
  page3 = [[float(td.get_attribute('data-value'))
            for td in tr.find_elements('css selector', 'td.probability')]
           for tr in browser.find_elements('css selector', '#predict-table tr[data-row]')]
  cli = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'predict.py'),
                        f'--workdir={runs_dir / RUN}', f'--input={rows_file}'],
                       capture_output=True, text=True, timeout=180)
  assert cli.returncode == 0, cli.stderr
  expected = [[float(v) for v in line.split(',')[:-1]]
              for line in cli.stdout.strip().split('\n')[1:]]
  np.testing.assert_allclose(page3, expected, atol=1e-6)

  href = browser.find_element('id', 'download-model').get_attribute('href')
  with urllib.request.urlopen(href, timeout=60) as response:
    (tmp_path / 'model.msgpack').write_bytes(response.read())
  model = load_model(str(tmp_path / 'model.msgpack'))
  assert model.rounds_done == 1500
  x = np.asarray([[float(v) for v in row[1:-1]]])
  np.testing.assert_allclose(model.predict(x)[0], page, atol=1e-6)
