"""Driving the control room's page in the browser tests: finding chromium and
its driver, waiting for the page, reading and clicking its elements, and
starting a run on an uploaded table from the form."""

import os
import time

REQUIRE_BROWSER = 'FEDJAX_SIM_REQUIRE_BROWSER'  # .ci/run sets it after .ci/setup succeeded.


def browser_or_reason(env, which):
  """`(chromium, chromedriver, None, False)` when both are on PATH, else
  `(None, None, reason, required)`: `required` when REQUIRE_BROWSER is set (to
  anything but '' or '0'), and then a missing browser fails the tests."""
  chromium, driver = which('chromium'), which('chromedriver')
  if chromium and driver:
    return chromium, driver, None, False
  required = env.get(REQUIRE_BROWSER, '') not in ('', '0')
  missing = ' and '.join(n for n, p in [('chromium', chromium), ('chromedriver', driver)]
                         if not p)
  reason = f"{missing} not on PATH; install with 'bash .ci/setup' (Debian, as root)"
  if required:
    reason += f', {REQUIRE_BROWSER} is set, so the browser tests must run'
  return None, None, reason, required


def wait(driver, condition, timeout=90, what=''):
  """`condition()` once it is truthy; an element the page re-rendered while
  `condition` read it (stale) counts as not yet."""
  from selenium.common.exceptions import StaleElementReferenceException
  deadline = time.monotonic() + timeout
  while True:
    try:
      value = condition()
    except StaleElementReferenceException:
      value = None
    if value:
      return value
    assert time.monotonic() < deadline, f'timed out waiting for {what() if callable(what) else what}'
    time.sleep(0.1)


def js(driver, script):
  return driver.execute_script(script)


def text(driver, element_id):
  return driver.find_element('id', element_id).text


def tab(driver, name):
  driver.find_element('css selector', f'button.tab[data-tab="{name}"]').click()


def shoot(driver, name):
  out = os.environ.get('FEDJAX_SIM_SCREENSHOTS')
  if out:
    driver.execute_script('window.scrollTo(0, 0);')
    time.sleep(0.5)  # let plotly finish drawing
    driver.save_screenshot(os.path.join(out, f'control_room_{name}.png'))


def select(driver, element_id, value):
  from selenium.webdriver.support.ui import Select
  Select(driver.find_element('id', element_id)).select_by_value(value)


def set_field(driver, field, value):
  box = driver.find_element('id', 'field-' + field.replace('.', '-'))
  box.clear()
  box.send_keys(str(value))


def start_run(driver, name, **fields):
  tab(driver, 'runs')
  select(driver, 'dataset-select', 'cancer')
  wait(driver, lambda: driver.find_elements('id', 'field-rounds'), what='the form')
  select(driver, 'label-select', 'diagnosis')
  select(driver, 'client-source', 'column')
  select(driver, 'client-column', 'hospital')
  for field, value in fields.items():
    set_field(driver, field, value)
  name_box = driver.find_element('id', 'run-name')
  name_box.clear()
  name_box.send_keys(name)
  driver.find_element('id', 'start-button').click()
  # The message follows the run: it may be running by the time it is read.
  wait(driver, lambda: any(f'run {name} is {s}' in text(driver, 'start-message')
                           for s in ('queued', 'running', 'finished')),
       what=lambda: text(driver, 'start-message'))


def status(driver, name):
  cells = driver.find_elements('id', 'status-' + name)
  return cells[0].text if cells else None


def points(driver):
  return js(driver, "const c = document.getElementById('live-chart');"
                    "return c.data ? c.data[0].x.length : 0;")
