"""The README's Python example runs and trains (it is part of the docs)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_library_example_trains():
  readme = open(os.path.join(ROOT, 'README.md')).read()
  code = re.search(r'## From Python\n\n```python\n(.*?)```', readme, re.S).group(1)
  assert len(code.strip().splitlines()) <= 20
  # In a fresh process: the example splits the CPU into devices, which only
  # works before JAX has started.
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  printed = out.stdout
  accuracy = float(re.search(r"'accuracy': ([\d.]+)", printed).group(1))
  assert accuracy >= 0.9, printed


def test_ci_runs_the_readme_test_command():
  readme = open(os.path.join(ROOT, 'README.md')).read()
  command = re.search(r'Run the tests.*?```bash\n(.*?)\n```', readme, re.S).group(1)
  assert command in open(os.path.join(ROOT, '.ci', 'run')).read()
