"""The sweep report (`fedjax_sim.rundir.sweep_report`, `scripts/report.py` on a
sweep's directory): its heatmap, curves and cells hold the members' values,
read here independently from each member's config.json and metrics.jsonl."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import fedjax_sim as fs
from configs import default
from fedjax_sim.config import sweep as sweep_lib
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir import sweep_report as sr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT, SERVER = 'client.optimizer.learning_rate', 'server.optimizer.learning_rate'


@pytest.fixture(scope='module')
def sweep_dir(tmp_path_factory):
  """3 client x 2 server learning rates x 2 seeds, 4 rounds; the 1e30 members
  freeze in round 1, before any evaluation. The sweep writes its report."""
  c = default.get_config('synthetic')
  c.rounds, c.eval_every, c.clients_per_round, c.data.seed = 4, 1, 6, 0
  c.sweep = sweep_lib.sweep_section({CLIENT: (0.03, 0.3, 1e30), SERVER: (0.5, 1.),
                                     'seed': (0, 1)})
  workdir = str(tmp_path_factory.mktemp('sweep'))
  fs.sweep(c, log=lambda line: None, workdir=workdir)
  return workdir


def members(workdir):
  """Each member's (client rate, server rate, seed, metrics rows), from its
  own directory; and the frozen members' indices, from frozen.jsonl."""
  out = {}
  for name in sorted(os.listdir(os.path.join(workdir, 'members'))):
    path = os.path.join(workdir, 'members', name)
    with open(os.path.join(path, 'config.json')) as f:
      config = json.load(f)
    rows = []
    if os.path.exists(os.path.join(path, 'metrics.jsonl')):
      with open(os.path.join(path, 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    out[int(name)] = (config['client']['optimizer']['learning_rate'],
                      config['server']['optimizer']['learning_rate'], config['seed'], rows)
  with open(os.path.join(workdir, 'frozen.jsonl')) as f:
    frozen = {json.loads(line)['member'] for line in f}
  return out, frozen


def finals_by(workdir, key, metric='test_accuracy'):
  """The live members' final `metric`, grouped by `key(client, server)`."""
  found, frozen = members(workdir)
  groups = {}
  for index, (client, server, _, rows) in found.items():
    if index not in frozen:
      groups.setdefault(key(client, server), []).append(rows[-1][metric])
  return groups


def page(workdir):
  with open(os.path.join(workdir, 'report.html')) as f:
    return f.read()


def test_the_sweep_writes_its_report_with_valid_figures(sweep_dir):
  sources = re.findall(r'<img src="([^"]+)"', page(sweep_dir))
  assert sources == ['report/grid.png', 'report/curves.png']
  for source in sources:
    with Image.open(os.path.join(sweep_dir, source)) as image:
      assert image.format == 'PNG' and image.width >= 600 and image.height >= 400
      pixels = np.asarray(image.convert('RGB'))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
  assert 'http' not in page(sweep_dir).replace('<!DOCTYPE html>', '')  # no CDN


def test_heatmap_cells_are_the_means_of_the_members_final_metric(sweep_dir):
  sweep = sr.load_sweep(sweep_dir)
  g = sr.grid(sweep, sr.member_results(sweep, 'test_accuracy'), 'test_accuracy',
              sr.shown_fields(sweep))
  assert g.fields == (CLIENT, SERVER)
  assert g.ticks == ([0.03, 0.3, 1e30], [0.5, 1.])
  want = finals_by(sweep_dir, lambda client, server: (client, server))
  assert len(want) == 4 and all(len(v) == 2 for v in want.values())  # 2 seeds each
  for ix, client in enumerate(g.ticks[0]):
    for iy, server in enumerate(g.ticks[1]):
      if client == 1e30:  # every member frozen
        assert np.isnan(g.mean[ix, iy]) and np.isnan(g.std[ix, iy])
        continue
      np.testing.assert_allclose(g.mean[ix, iy], np.mean(want[client, server]), rtol=1e-12)
      np.testing.assert_allclose(g.std[ix, iy], np.std(want[client, server]), rtol=1e-12)
  best = max(want, key=lambda k: np.mean(want[k]))
  assert (g.ticks[0][g.best[0]], g.ticks[1][g.best[1]]) == best
  html = page(sweep_dir)
  assert (f'The best cell (highest mean, in red): client.learning_rate={best[0]:g}, '
          f'server.learning_rate={best[1]:g}.') in html
  # The cells table: the same means, best first.
  rows = re.findall(r'<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>', html)
  assert rows[0][1:3] == (f'{best[0]:g}', f'{best[1]:g}')
  for _, client, server, score in rows[:4]:
    values = want[float(client), float(server)]
    assert score == f'{np.mean(values):.4f} ± {np.std(values):.4f}'
  # Swapped axes: the same grid, transposed.
  assert sr.shown_fields(sweep, x=SERVER) == sr.shown_fields(sweep, y=CLIENT) == (SERVER, CLIENT)
  swapped = sr.grid(sweep, sr.member_results(sweep, 'test_accuracy'), 'test_accuracy',
                    sr.shown_fields(sweep, x=SERVER))
  np.testing.assert_array_equal(swapped.mean, g.mean.T)


def test_a_heatmap_over_one_field_averages_over_the_others(sweep_dir):
  sweep = sr.load_sweep(sweep_dir)
  g = sr.grid(sweep, sr.member_results(sweep, 'test_accuracy'), 'test_accuracy', (SERVER,))
  want = finals_by(sweep_dir, lambda client, server: server)
  for i, server in enumerate(g.ticks[0]):
    assert len(want[server]) == 4  # 2 live client rates x 2 seeds
    np.testing.assert_allclose(g.mean[i], np.mean(want[server]), rtol=1e-12)
    np.testing.assert_allclose(g.std[i], np.std(want[server]), rtol=1e-12)


def test_curves_are_the_mean_and_min_max_over_the_seeds(sweep_dir):
  sweep = sr.load_sweep(sweep_dir)
  results = sr.member_results(sweep, 'test_accuracy')
  table = sr.cells(results, 'test_accuracy')
  lines = sr.curves(sweep, table, 'test_accuracy')
  found, frozen = members(sweep_dir)
  assert len(lines) == 4  # the two all-frozen cells have no curve
  for line in lines:
    client, server = line.cell.values[CLIENT], line.cell.values[SERVER]
    seeds = [rows for index, (c, s, _, rows) in found.items()
             if (c, s) == (client, server) and index not in frozen]
    assert len(seeds) == 2 and line.rounds == [1, 2, 3, 4]
    per_round = np.array([[r['test_accuracy'] for r in rows] for rows in seeds])
    np.testing.assert_allclose(line.mean, per_round.mean(0), rtol=1e-12)
    np.testing.assert_allclose(line.low, per_round.min(0), rtol=1e-12)
    np.testing.assert_allclose(line.high, per_round.max(0), rtol=1e-12)
  html = page(sweep_dir)
  assert 'its band, in the same colour, spans their min to max' in html
  missing = re.search(r'no curve for ([^(]*) \(every member frozen\)', html).group(1)
  assert sorted(missing.split('; ')) == ['client.learning_rate=1e+30, server.learning_rate=0.5',
                                         'client.learning_rate=1e+30, server.learning_rate=1']


def test_frozen_members_are_named_and_members_reports_linked(sweep_dir):
  found, frozen = members(sweep_dir)
  html = page(sweep_dir)
  assert sorted(frozen) == [i for i, m in found.items() if m[0] == 1e30] and len(frozen) == 4
  for index in frozen:
    assert f'member {index} at round 1: a client update or the server state is not finite' \
        in html
    assert f'{index} (seed {found[index][2]}): no report' in html  # never evaluated
  links = re.findall(r'<a href="([^"]+)">(\d+) \(seed (\d)\)</a>', html)
  assert sorted(int(i) for _, i, _ in links) == sorted(set(found) - frozen)
  for href, index, seed in links:
    assert href == f'members/{int(index):04d}/report.html'
    assert os.path.isfile(os.path.join(sweep_dir, href)) and int(seed) == found[int(index)][2]


def derived(sweep_dir, tmp_path, keep, axes):
  """A copy of the sweep whose sweep.json keeps only the members `keep`
  accepts, with only `axes` swept (as a sweep of those axes would write)."""
  workdir = str(tmp_path / 'derived')
  shutil.copytree(sweep_dir, workdir, ignore=shutil.ignore_patterns('checkpoints', 'report*'))
  with open(os.path.join(workdir, 'sweep.json')) as f:
    table = json.load(f)
  table['axes'] = {k: v for k, v in table['axes'].items() if k in axes}
  table['members'] = [dict(m, values={k: v for k, v in m['values'].items() if k in axes})
                      for m in table['members'] if keep(m['values'])]
  with open(os.path.join(workdir, 'sweep.json'), 'w') as f:
    json.dump(table, f)
  return workdir


def test_one_swept_field_draws_bars(sweep_dir, tmp_path):
  workdir = derived(sweep_dir, tmp_path, lambda v: v[SERVER] == 1., (CLIENT, 'seed'))
  sr.write_sweep_report(workdir)
  html = page(workdir)
  assert 'Each bar: the final test_accuracy' in html and 'mean ± std over the seeds.' in html
  assert os.path.isfile(os.path.join(workdir, 'report', 'grid.png'))
  want = finals_by(workdir, lambda client, server: (client, server))
  best = max((k for k in want if k[1] == 1.), key=lambda k: np.mean(want[k]))
  assert f'(highest mean, in red): client.learning_rate={best[0]:g}.' in html


def test_a_sweep_of_seeds_only_has_curves_and_no_heatmap(sweep_dir, tmp_path):
  workdir = derived(sweep_dir, tmp_path, lambda v: v[CLIENT] == 0.3 and v[SERVER] == 1.,
                    ('seed',))
  sr.write_sweep_report(workdir)
  html = page(workdir)
  assert 'No heatmap: the sweep varies only seed' in html
  assert re.findall(r'<img src="([^"]+)"', html) == ['report/curves.png']
  want = finals_by(sweep_dir, lambda client, server: (client, server))[0.3, 1.]
  assert f'<td>{np.mean(want):.4f} ± {np.std(want):.4f}</td><td>2/2</td>' in html


def test_every_member_frozen_is_still_a_report(sweep_dir, tmp_path):
  workdir = derived(sweep_dir, tmp_path, lambda v: v[CLIENT] == 1e30, (SERVER, 'seed'))
  sr.write_sweep_report(workdir)
  html = page(workdir)
  assert 'No heatmap: no live member recorded test_accuracy.' in html
  assert 'No curves: no live member recorded test_accuracy.' in html
  assert html.count('<td>0/2</td>') == 2


def test_bad_flags_are_one_error(sweep_dir):
  with pytest.raises(ConfigError, match="--x 'seed' is not a swept field other than seed"):
    sr.write_sweep_report(sweep_dir, x='seed')
  with pytest.raises(ConfigError, match=f"--x and --y are both '{CLIENT}'"):
    sr.write_sweep_report(sweep_dir, x=CLIENT, y=CLIENT)
  with pytest.raises(ConfigError, match="--metric 'accuracy' is not recorded by any member"):
    sr.write_sweep_report(sweep_dir, metric='accuracy')
  with pytest.raises(DataError, match='sweep.json is malformed'):
    sr.load_sweep(derived_json(sweep_dir, '{"axes": {"seed": [0]}, "members": [{"index": 0}]}'))


def derived_json(sweep_dir, text):
  workdir = os.path.join(os.path.dirname(sweep_dir), 'bad-' + str(abs(hash(text))))
  os.makedirs(os.path.join(workdir, 'members'), exist_ok=True)
  if text is not None:
    with open(os.path.join(workdir, 'sweep.json'), 'w') as f:
      f.write(text)
  return workdir


@pytest.mark.parametrize('text, flags, message', [
    (None, [], r'error: \S+/sweep.json does not exist: not a sweep\'s directory'),
    ('{"axes": {"seed": [0', [], r'error: \S+/sweep.json is not valid JSON'),
    ('[1, 2]', [], r"error: \S+/sweep.json is malformed: it has no 'axes' object of lists"),
    ('{"axes": {}, "members": []}', ['--x=seed'], r"error: --x 'seed' is not a swept field"),
])
def test_report_script_bad_sweep_dirs_are_one_line(sweep_dir, text, flags, message):
  workdir = derived_json(sweep_dir, text)
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'report.py'),
                           f'--workdir={workdir}', *flags],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.count('\n') == 1, result.stderr
  assert re.match(message, result.stderr), result.stderr


def test_report_script_draws_a_chosen_metric_over_chosen_axes(sweep_dir, tmp_path):
  workdir = derived(sweep_dir, tmp_path, lambda v: True, (CLIENT, SERVER, 'seed'))
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'report.py'),
                           f'--workdir={workdir}', '--metric=test_loss', f'--x={SERVER}'],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == os.path.join(workdir, 'report.html')
  want = finals_by(workdir, lambda client, server: (client, server), 'test_loss')
  best = min(want, key=lambda k: np.mean(want[k]))
  html = page(workdir)
  assert (f'Each cell: the final test_loss (each member&#x27;s last evaluation, round 4) at '
          f'its {SERVER} and {CLIENT}, mean ± std over the seeds.') in html
  assert (f'(lowest mean, in red): server.learning_rate={best[1]:g}, '
          f'client.learning_rate={best[0]:g}.') in html
  assert 'final test_loss (mean ± std)' in html
