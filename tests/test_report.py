"""The static run report: plots written as valid PNGs and embedded with the final metrics."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fedjax_sim.rundir.report import write_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_run(workdir, rounds=(5, 10, 15, 20)):
  """A run directory written by hand (no fedjax_sim code), as train.py would."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    json.dump({'algorithm': 'fedavg_report_test', 'rounds': 20, 'client': {'lr': 0.05}}, f)
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for i, r in enumerate(rounds):
      f.write(json.dumps({'round': r, 'time': 1.7e9 + r, 'test_accuracy': 0.5 + 0.1 * i,
                          'test_loss': 1.0 / (i + 1), 'train_loss': 0.9 / (i + 1),
                          'client_train_accuracy': 0.4 + 0.1 * i, 'epsilon': 0.25 * r}) + '\n')
  rng = np.random.default_rng(0)
  with open(os.path.join(workdir, 'client_norms.jsonl'), 'w') as f:
    for r in range(1, rounds[-1] + 1):
      f.write(json.dumps({'round': r, 'norms': rng.uniform(0, 1 / r, 8).tolist()}) + '\n')


def test_report_embeds_valid_plots_final_metrics_and_config(tmp_path):
  workdir = str(tmp_path / 'run')
  make_run(workdir)
  path = write_report(workdir)
  assert path == os.path.join(workdir, 'report.html')
  with open(path) as f:
    page = f.read()
  sources = re.findall(r'<img src="([^"]+)"', page)
  assert sorted(sources) == ['report/accuracy.png', 'report/client_norms.png',
                             'report/loss.png', 'report/metric_epsilon.png']
  for source in sources:
    with Image.open(os.path.join(workdir, source)) as image:
      assert image.format == 'PNG'
      assert image.width >= 400 and image.height >= 250
      pixels = np.asarray(image.convert('RGB'))
    # Not blank: several colors, and a good share of non-white pixels (axes, text, lines).
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    assert (pixels.min(axis=-1) < 200).mean() > 0.01
  # Final row (round 20): test_accuracy 0.8, test_loss 0.25, train_loss 0.225,
  # client_train_accuracy 0.7.
  final = re.search(r'Final metrics</h2>(.*?)</table>', page, re.S).group(1)
  for key, value in [('round', '20'), ('test_accuracy', '0.8'), ('test_loss', '0.25'),
                     ('train_loss', '0.225'), ('client_train_accuracy', '0.7'),
                     ('epsilon', '5')]:
    assert f'<th>{key}</th><td>{value}</td>' in final
  assert 'fedavg_report_test' in page and '&quot;lr&quot;: 0.05' in page
  assert not [f for f in os.listdir(workdir) + os.listdir(os.path.join(workdir, 'report'))
              if f.endswith('.tmp')]


def test_report_of_run_without_evaluations(tmp_path):
  path = write_report(str(tmp_path))
  with open(path) as f:
    page = f.read()
  assert '<img' not in page
  assert 'No evaluations recorded yet.' in page and 'No config.json found.' in page


def test_report_rejects_missing_workdir(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    write_report(str(tmp_path / 'absent'))


def test_report_script_prints_report_path(tmp_path):
  make_run(str(tmp_path))
  script = os.path.join(ROOT, 'scripts', 'report.py')
  result = subprocess.run([sys.executable, script, f'--workdir={tmp_path}'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == os.path.join(str(tmp_path), 'report.html')


def test_report_script_names_a_cut_config(tmp_path):
  make_run(str(tmp_path))
  (tmp_path / 'config.json').write_text('{"algorithm": "fed')
  script = os.path.join(ROOT, 'scripts', 'report.py')
  result = subprocess.run([sys.executable, script, f'--workdir={tmp_path}'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.count('\n') == 1, result.stderr
  assert result.stderr.startswith(f'error: {tmp_path}/config.json is not valid JSON')


def test_runs_on_the_virtual_clock_are_also_plotted_against_virtual_time(tmp_path):
  from fedjax_sim.rundir.comparison import write_comparison
  from fedjax_sim.rundir.report import series
  workdir = str(tmp_path / 'clocked')
  make_run(workdir)
  rows = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    for k, row in enumerate(rows):  # the first evaluation predates the clock
      f.write(json.dumps({**row, **({'virtual_time': 60. * row['round']} if k else {})}) + '\n')
  assert series(rows, 'test_accuracy') == ([5, 10, 15, 20], [0.5, 0.6, 0.7, 0.8])
  rows = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert series(rows, 'test_accuracy', 'virtual_time') == ([600., 900., 1200.],
                                                           [0.6, 0.7, 0.8])
  page = open(write_report(workdir)).read()
  sources = re.findall(r'<img src="([^"]+)"', page)
  assert {'report/accuracy_virtual_time.png', 'report/loss_virtual_time.png'} <= set(sources)
  make_run(str(tmp_path / 'plain'))
  compared = open(write_comparison([workdir, str(tmp_path / 'plain')],
                                   str(tmp_path / 'out'))).read()
  sources = re.findall(r'<img src="([^"]+)"', compared)
  assert {'comparison/test_accuracy_virtual_time.png',
          'comparison/test_loss_virtual_time.png'} <= set(sources)
  for source in sources:
    with Image.open(os.path.join(tmp_path, 'out', source)) as image:
      assert image.format == 'PNG'
  plain_page = open(write_report(str(tmp_path / 'plain'))).read()
  assert 'virtual_time' not in plain_page
