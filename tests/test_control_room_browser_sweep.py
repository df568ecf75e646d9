"""A sweep from the control room's page in Chromium (Selenium), trained by
the real scripts/train.py (tiny: 2 rounds on synthetic data): a bad value
in a list is the one line and nothing starts; lists of values in three
fields start one sweep (2 x 2 learning rates x 2 seeds), shown as one run;
its view's heatmap has one cell per pair of learning rates, and the best
cell's value is the mean over its seeds read from the members' own
metrics.jsonl; the axes swap; every member's report is linked."""

import json
import os

import numpy as np
import pytest

from control_room_helpers import CONFIGS, ROOT
from control_room_live import TOKEN, browser, open_page, serve, set_field  # noqa: F401
from control_room_page import js, select, shoot, status, text, wait
from fedjax_sim.control import Settings, create_app

CLIENT_LR, SERVER_LR = 'client.optimizer.learning_rate', 'server.optimizer.learning_rate'
NAME = 'lr-grid'


@pytest.fixture(scope='module')
def served(tmp_path_factory):
  """The app with the real training script on a free port: (URL, runs dir)."""
  runs = tmp_path_factory.mktemp('runs')
  app = create_app(Settings(str(runs), CONFIGS, os.path.join(ROOT, 'scripts', 'train.py'),
                            token=TOKEN, poll_seconds=0.3))
  yield from serve(app, runs, shutdown_seconds=120)


def fill_form(driver, name, **fields):
  wait(driver, lambda: driver.find_elements('id', 'field-seed'), 30, 'the form')
  for field, value in fields.items():
    set_field(driver, field, value)
  driver.find_element('id', 'run-name').clear()
  driver.find_element('id', 'run-name').send_keys(name)
  driver.find_element('id', 'start-button').click()


def best_mean_from_members(sweep_dir):
  """The highest mean over seeds of the final test_accuracy per pair of
  learning rates, from each member's config.json and metrics.jsonl."""
  finals = {}
  members = sweep_dir / 'members'
  for member in sorted(os.listdir(members)):
    config = json.loads((members / member / 'config.json').read_text())
    rows = [json.loads(line) for line in (members / member / 'metrics.jsonl').read_text()
            .splitlines()]
    key = (config['client']['optimizer']['learning_rate'],
           config['server']['optimizer']['learning_rate'])
    finals.setdefault(key, []).append(rows[-1]['test_accuracy'])
  assert sorted(len(v) for v in finals.values()) == [2, 2, 2, 2]  # 2 seeds a cell
  return max(np.mean(v) for v in finals.values())


def test_a_sweep_from_the_form_and_its_heatmap(served, browser):
  base, runs = served
  open_page(browser, base)
  fill_form(browser, 'refused', **{CLIENT_LR: '0.1, -1'})
  message = (f'sweep member 1 ({CLIENT_LR}=-1.0): {CLIENT_LR} must be > 0, got -1.0')
  wait(browser, lambda: text(browser, 'start-message') == message, 60,
       lambda: text(browser, 'start-message'))
  assert not os.path.exists(runs / 'refused')

  browser.refresh()
  fill_form(browser, NAME, **{'data.name': 'synthetic', 'rounds': 2, 'eval_every': 1,
                              CLIENT_LR: '0.05, 0.2', SERVER_LR: '0.5,1', 'seed': '0, 1'})
  wait(browser, lambda: status(browser, NAME) in ('queued', 'running', 'finished'), 60,
       lambda: text(browser, 'start-message'))
  wait(browser, lambda: status(browser, NAME) in ('finished', 'failed'), 500,
       lambda: f'the sweep to finish: {text(browser, f"progress-{NAME}")}')
  assert status(browser, NAME) == 'finished', (runs / NAME / 'console.log').read_text()
  assert text(browser, f'progress-{NAME}') == 'sweep of 8: 16 of 16 member-rounds'
  assert len(browser.find_elements('css selector', '#runs-table tbody tr')) == 1

  wait(browser, lambda: js(browser, "const h = document.getElementById('sweep-heatmap');"
                                    'return !!(h.data && h.data.length);'), 60, 'the heatmap')
  z = js(browser, "return document.getElementById('sweep-heatmap').data[0].z;")
  assert np.shape(z) == (2, 2) and all(v is not None for row in z for v in row)
  expected = best_mean_from_members(runs / NAME)
  best = browser.find_element('id', 'sweep-best')
  assert float(best.get_attribute('data-value')) == pytest.approx(expected, abs=1e-12)
  assert max(v for row in z for v in row) == pytest.approx(expected, abs=1e-12)
  assert text(browser, 'sweep-frozen') == 'No member frozen.'
  assert len(browser.find_elements('css selector', '#sweep-members a')) == 8
  curves = js(browser, "return document.getElementById('sweep-curves').data"
                       ".filter(t => t.showlegend !== false).map(t => t.name);")
  assert len(curves) == 4 and sum(n.startswith('★') for n in curves) == 1
  shoot(browser, 'sweep')

  # Swapping the axes transposes the grid; the best cell keeps its value.
  select(browser, 'sweep-x', SERVER_LR)
  wait(browser, lambda: js(browser, "return document.getElementById('sweep-heatmap')"
                                    '.layout.xaxis.title.text;') == SERVER_LR, 30, 'the swap')
  assert js(browser, "return document.getElementById('sweep-y').value;") == CLIENT_LR
  swapped = js(browser, "return document.getElementById('sweep-heatmap').data[0].z;")
  np.testing.assert_allclose(np.array(swapped, float), np.array(z, float).T)
  assert float(best.get_attribute('data-value')) == pytest.approx(expected, abs=1e-12)
