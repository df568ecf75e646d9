"""`import fedjax_sim` loads the engine, not the experiment runner's
libraries; `train` and `load_model` import them on first use."""

import json
import subprocess
import sys

CODE = '''
import json, sys
import fedjax_sim as fs
heavy = ('sklearn', 'matplotlib', 'orbax', 'tensorboardX', 'dp_accounting', 'fedjax_sim.config.train')
before = [m for m in heavy if m in sys.modules]
names = (fs.train.__module__, fs.load_model.__module__)
print(json.dumps([before, names, 'fedjax_sim.config.train' in sys.modules]))
'''


def test_import_is_lazy_about_the_runner_and_its_libraries():
  out = subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  before, names, loaded = json.loads(out.stdout.strip().splitlines()[-1])
  assert before == []
  assert names == ['fedjax_sim.config.train', 'fedjax_sim.export'] and loaded


def test_an_unknown_name_is_an_attribute_error():
  import fedjax_sim
  try:
    fedjax_sim.trian
  except AttributeError as e:
    assert "'trian'" in str(e)
  else:
    raise AssertionError('fedjax_sim.trian did not raise')
