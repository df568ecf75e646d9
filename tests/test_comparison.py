"""Comparing runs: seeds grouped as mean ± std, the differing config fields,
every metric plotted; `scripts/report.py` over a parent or a list of runs."""

import html
import json
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from fedjax_sim.rundir.comparison import write_comparison

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'report.py')


def make_run(workdir, algorithm, seed, accuracies, extra=None):
  """A run directory written by hand, as train.py would write it."""
  os.makedirs(workdir)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    json.dump({'algorithm': algorithm, 'seed': seed, 'rounds': 30,
               'model': {'options': {'hidden': [200]}}}, f)
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for i, accuracy in enumerate(accuracies):
      row = {'round': 10 * (i + 1), 'time': 1.7e9 + i, 'accuracy': accuracy,
             'loss': 1 - accuracy, **(extra or {})}
      f.write(json.dumps(row) + '\n')


def runs(parent):
  """fedavg and fedadam, two seeds each, and one fedprox run with one more metric."""
  make_run(f'{parent}/fedavg_s0', 'fedavg', 0, [0.5, 0.6, 0.7])
  make_run(f'{parent}/fedavg_s1', 'fedavg', 1, [0.3, 0.5, 0.8])
  make_run(f'{parent}/fedadam_s0', 'fedadam', 0, [0.6, 0.8, 0.9])
  make_run(f'{parent}/fedadam_s1', 'fedadam', 1, [0.7, 0.8, 0.95])
  make_run(f'{parent}/fedprox_s0', 'fedprox', 0, [0.4, 0.6], extra={'epsilon': 2.5})


def final_table(page):
  """{group label: [cells]} of the final-metrics table."""
  table = re.search(r'<table id="final">(.*?)</table>', page).group(1)
  rows = re.findall(r'<tr><th>(.*?)</th>(.*?)</tr>', table)[1:]
  return {html.unescape(label): [html.unescape(c) for c in re.findall(r'<td>(.*?)</td>', cells)]
          for label, cells in rows}


def test_seeds_are_grouped_as_mean_and_std_with_the_differing_fields(tmp_path):
  parent = str(tmp_path)
  runs(parent)
  dirs = sorted(os.path.join(parent, d) for d in os.listdir(parent))
  path = write_comparison(dirs, parent)
  assert path == os.path.join(parent, 'comparison.html')
  page = open(path).read()
  final = final_table(page)
  # Columns: runs, then accuracy, epsilon, loss (every metric, sorted).
  fedavg, fedadam = np.array([0.7, 0.8]), np.array([0.9, 0.95])
  assert final['algorithm=fedavg'] == [
      '2', f'{fedavg.mean():.4g} ± {fedavg.std():.2g}', '',
      f'{(1 - fedavg).mean():.4g} ± {(1 - fedavg).std():.2g}']
  assert final['algorithm=fedadam'][:2] == ['2', f'{fedadam.mean():.4g} ± {fedadam.std():.2g}']
  assert final['algorithm=fedprox'] == ['1', '0.6', '2.5', '0.4']
  config = re.search(r'<table id="config">(.*?)</table>', page).group(1)
  assert re.findall(r'<th>(.*?)</th>', config)[:3] == ['run', 'algorithm', 'seed']
  assert 'fedadam_s1</th><td>fedadam</td><td>1</td>' in config
  images = re.findall(r'<img src="(comparison/[^"]+)" alt="([^"]+)"', page)
  assert [alt for _, alt in images] == ['accuracy', 'epsilon', 'loss']
  for file, _ in images:
    with Image.open(os.path.join(parent, file)) as image:
      image.verify()


def test_report_script_compares_a_parent_or_a_list_and_refuses_no_runs(tmp_path):
  parent = str(tmp_path / 'runs')
  runs(parent)
  result = subprocess.run([sys.executable, SCRIPT, f'--workdir={parent}'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == os.path.join(parent, 'comparison.html')
  out = str(tmp_path / 'out')
  pair = f'{parent}/fedavg_s0,{parent}/fedadam_s0'
  result = subprocess.run([sys.executable, SCRIPT, f'--workdir={pair}', f'--out={out}'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert 'algorithm=fedadam' in final_table(open(f'{out}/comparison.html').read())
  empty = tmp_path / 'empty'
  (empty / 'sub').mkdir(parents=True)
  for flags, message in [
      ([f'--workdir={empty}'], f"error: --workdir '{empty}' holds no runs (metrics.jsonl in "
                               'it or in its subdirectories)'),
      ([f'--workdir={pair}'], 'error: --out is required to compare several --workdir runs'),
      ([f'--workdir={parent}/fedavg_s0,{empty}', f'--out={out}'],
       f"error: --workdir '{empty}' is not a run (no metrics.jsonl)"),
  ]:
    result = subprocess.run([sys.executable, SCRIPT, *flags], capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stderr.strip()) == (2, message)
  assert not os.path.exists(empty / 'comparison.html')
