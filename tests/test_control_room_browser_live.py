"""The control room's page in Chromium (Selenium) against the app served in
this process with the stand-in training script (fast: no JAX runs), for
issue 28's page items: 8 tabs stay live on one event stream per browser;
the form refuses what the command line refuses and its message follows a
run that then fails; a run stopped while queued resumes, Extend refuses
more than int32 rounds, runs and data sets are deleted after a
confirmation; reload keeps the watched run, tab and Compare ticks; binary
runs get metric cards; a wrong token is said."""

import os
import urllib.request

from control_room_helpers import CSV
from control_room_live import (TOKEN, browser, call, click_and_confirm, open_page,  # noqa: F401
                               served, set_field, write_run)
from control_room_page import js, status, tab, text, wait

def test_eight_tabs_stay_live(served, browser, monkeypatch):
  base, runs = served
  open_page(browser, base)
  first = browser.current_window_handle
  for _ in range(7):
    browser.switch_to.new_window('tab')
    open_page(browser, base)  # a 7th tab never loaded with a stream per tab
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.01')
  call(base, '/api/runs', {'name': 'tabs', 'config': 'default.py', 'fields': {'rounds': '2'}})
  for handle in browser.window_handles:
    browser.switch_to.window(handle)
    wait(browser, lambda: status(browser, 'tabs') == 'finished', 30, 'every tab to update')
  assert len(browser.window_handles) == 8
  for handle in browser.window_handles:
    if handle != first:
      browser.switch_to.window(handle)
      browser.close()
  browser.switch_to.window(first)


def test_the_form_refuses_what_the_cli_refuses_and_follows_a_failure(served, browser):
  base, runs = served
  open_page(browser, base)
  wait(browser, lambda: browser.find_elements('id', 'field-algorithm'), 30, 'the form')
  for field, value, message in [
      ('algorithm', 'fedfoo', "algorithm must be one of ['ditto', 'fedavg',"),
      ('clients_per_round', '30', 'clients_per_round=30 exceeds data.num_clients=20')]:
    browser.refresh()
    wait(browser, lambda: browser.find_elements('id', 'field-algorithm'), 30, 'the form')
    set_field(browser, field, value)
    browser.find_element('id', 'run-name').clear()
    browser.find_element('id', 'run-name').send_keys('refused')
    browser.find_element('id', 'start-button').click()
    wait(browser, lambda: message in text(browser, 'start-message'), 30,
         lambda: text(browser, 'start-message'))
    assert 'ok' not in browser.find_element('id', 'start-message').get_attribute('class')
  assert not os.path.exists(runs / 'refused')
  browser.refresh()
  wait(browser, lambda: browser.find_elements('id', 'field-seed'), 30, 'the form')
  set_field(browser, 'seed', 13)  # the stand-in script fails with this seed
  set_field(browser, 'rounds', 2)
  browser.find_element('id', 'run-name').clear()
  browser.find_element('id', 'run-name').send_keys('unlucky')
  browser.find_element('id', 'start-button').click()
  wait(browser, lambda: text(browser, 'start-message') ==
       'run unlucky failed: error: config.seed=13 is unlucky', 30,
       lambda: text(browser, 'start-message'))
  assert 'ok' not in browser.find_element('id', 'start-message').get_attribute('class')


def test_a_run_stopped_while_queued_resumes_extends_and_deletes(served, browser, monkeypatch):
  base, runs = served
  open_page(browser, base)
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.2')
  call(base, '/api/runs', {'name': 'busy', 'config': 'default.py', 'fields': {'rounds': '300'}})
  call(base, '/api/runs', {'name': 'waiting', 'config': 'default.py', 'fields': {'rounds': '2'}})
  wait(browser, lambda: status(browser, 'waiting') == 'queued', 30, 'queued')
  browser.find_element('id', 'stop-waiting').click()
  wait(browser, lambda: status(browser, 'waiting') == 'stopped', 30, 'stopped')
  assert text(browser, 'progress-waiting') == 'round 0 of 2'
  call(base, '/api/runs/busy/stop', {})
  wait(browser, lambda: status(browser, 'busy') == 'stopped', 30, 'busy stopped')
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.01')
  browser.find_element('id', 'resume-waiting').click()
  wait(browser, lambda: status(browser, 'waiting') == 'finished', 30, 'finished')
  more = browser.find_element('id', 'extend-rounds-waiting')
  more.clear()
  more.send_keys('1e10')
  browser.find_element('id', 'extend-waiting').click()
  wait(browser, lambda: 'expected an integer in [3, 2147483647]' in text(browser, 'runs-message'),
       30, lambda: text(browser, 'runs-message'))
  assert status(browser, 'waiting') == 'finished'
  click_and_confirm(browser, 'delete-waiting')
  wait(browser, lambda: status(browser, 'waiting') is None, 30, 'the row to go')
  assert not os.path.exists(runs / 'waiting')


def test_a_data_set_is_deleted_after_a_confirmation(served, browser):
  base, runs = served
  request = urllib.request.Request(base + 'api/datasets?name=table', data=CSV.encode(),
                                   headers={'Authorization': f'Bearer {TOKEN}',
                                            'Content-Type': 'text/csv'})
  urllib.request.urlopen(request, timeout=30).close()
  open_page(browser, base, '&tab=data')
  wait(browser, lambda: browser.find_elements('id', 'delete-dataset-table'), 30, 'the data set')
  click_and_confirm(browser, 'delete-dataset-table')
  wait(browser, lambda: text(browser, 'upload-message') == 'deleted table', 30,
       lambda: text(browser, 'upload-message'))
  assert not browser.find_elements('id', 'delete-dataset-table')
  assert not os.path.exists(runs / '_data' / 'table.csv')


def test_binary_runs_get_metric_cards_and_a_report_link(served, browser):
  base, runs = served
  write_run(runs / 'binary', [{'test_accuracy': 0.5, 'test_loss': 0.7},
                              {'test_accuracy': 0.9, 'test_loss': 0.3, 'test_precision': 0.875,
                               'test_recall': 0.75, 'test_f1': 0.8077, 'test_roc_auc': 0.95}],
            report=True)
  write_run(runs / 'tenclass', [{'test_accuracy': 0.25, 'test_loss': 2.}])
  open_page(browser, base)
  wait(browser, lambda: status(browser, 'binary') == 'finished', 30, 'the run listed')
  browser.find_element('link text', 'binary').click()
  cards = lambda: js(browser, "return Object.fromEntries([...document.querySelectorAll("
                             "'.metric-card')].map(c => [c.id, c.innerText.split('\\n')]));")
  wait(browser, lambda: len(cards()) == 6, 30, lambda: cards())
  assert cards() == {'card-test_accuracy': ['accuracy', '0.9'], 'card-test_loss': ['loss', '0.3'],
                     'card-test_precision': ['precision', '0.875'],
                     'card-test_recall': ['recall', '0.75'], 'card-test_f1': ['F1', '0.8077'],
                     'card-test_roc_auc': ['ROC AUC', '0.95']}
  assert text(browser, 'binary-binary') == '0.808 / 0.95'  # the runs table's F1 / AUC
  assert text(browser, 'binary-tenclass') == ''
  href = browser.find_element('id', 'report-binary').get_attribute('href')
  with urllib.request.urlopen(href, timeout=30) as response:  # the link carries the token
    assert response.read() == b'<h1>report</h1>'
  browser.find_element('link text', 'tenclass').click()
  wait(browser, lambda: sorted(cards()) == ['card-test_accuracy', 'card-test_loss'], 30,
       lambda: cards())
  assert not browser.find_elements('id', 'report-tenclass')


def test_reload_keeps_the_watched_run_the_tab_and_the_ticks(served, browser):
  base, runs = served
  open_page(browser, base)
  wait(browser, lambda: browser.find_elements('link text', 'binary'), 30, 'the runs')
  browser.find_element('link text', 'binary').click()
  browser.find_element('css selector', 'input.select-run[data-run="tenclass"]').click()
  tab(browser, 'compare')
  assert browser.current_url.endswith('&tab=compare&run=binary&compare=tenclass')
  browser.refresh()
  wait(browser, lambda: text(browser, 'connection') == 'live', 30, 'live updates')
  assert browser.find_element('id', 'tab-compare').is_displayed()
  wait(browser, lambda: js(browser, "const c = document.getElementById('compare-chart');"
                                    "return c.data && c.data.map(t => t.name).join();")
       == 'tenclass', 30, 'the ticked run compared')
  tab(browser, 'runs')
  assert text(browser, 'live-title') == 'Run binary'
  assert browser.find_element(
      'css selector', 'input.select-run[data-run="tenclass"]').is_selected()


def test_a_wrong_token_is_said(served, browser):
  base, runs = served
  browser.get(base + '?token=outdated')
  wait(browser, lambda: text(browser, 'connection') == 'wrong token', 30,
       lambda: text(browser, 'connection'))
  assert 'missing or outdated token' in text(browser, 'start-message')
