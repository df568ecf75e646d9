"""When the browser tests run: with chromium and its driver on PATH; else
they skip, or fail where FEDJAX_SIM_REQUIRE_BROWSER says they must run."""

from control_room_page import REQUIRE_BROWSER, browser_or_reason


def test_missing_browser_skips_unless_required():
  found = lambda name: f'/usr/bin/{name}'
  no_driver = lambda name: None if name == 'chromedriver' else f'/usr/bin/{name}'
  assert browser_or_reason({}, found) == ('/usr/bin/chromium', '/usr/bin/chromedriver',
                                          None, False)
  for env in [{}, {REQUIRE_BROWSER: ''}, {REQUIRE_BROWSER: '0'}]:
    *_, reason, required = browser_or_reason(env, no_driver)
    assert not required and reason.startswith('chromedriver not on PATH')
  *_, reason, required = browser_or_reason({REQUIRE_BROWSER: '1'}, lambda name: None)
  assert required and 'chromium and chromedriver' in reason and REQUIRE_BROWSER in reason
