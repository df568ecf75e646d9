"""What the control room's API tests share: the app over a runs directory
with a fake training script (`tests/fake_train.py`), an uploadable CSV, and
starting a run and waiting for its status. The `client` fixture (conftest.py)
serves the app over a test's `tmp_path`."""

import os
import time

from fedjax_sim.control import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')
FAKE_TRAIN = os.path.join(ROOT, 'tests', 'fake_train.py')
TOKEN = 's3cret-token'
CSV_TYPE = {'Content-Type': 'text/csv'}
CSV = 'a,b,site,y\n' + ''.join(f'{i},{i % 3},{"xy"[i % 2]},{i % 2}\n' for i in range(20))


def settings(runs_dir, **kw):
  return Settings(str(runs_dir), CONFIGS, FAKE_TRAIN, **kw)


def wait_status(client, name, statuses, timeout=30):
  deadline = time.monotonic() + timeout
  while True:
    runs = {r['name']: r for r in client.get('/api/runs').json()['runs']}
    if name in runs and runs[name]['status'] in statuses:
      return runs[name]
    assert time.monotonic() < deadline, f'{name}: {runs.get(name)}'
    time.sleep(0.05)


def start(client, name, **fields):
  return client.post('/api/runs', json={'name': name, 'config': 'default.py',
                                        'fields': fields})
