"""The peer benchmark suite runs end to end with the systems of this
environment, and its workloads are what they claim to be."""

import datetime
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks', 'peers'))

import interruptible  # noqa: E402
import jax_worker  # noqa: E402
import launch  # noqa: E402
import workloads as wl  # noqa: E402
from peer_venvs import peer_env, require_peer  # noqa: E402


@pytest.mark.parametrize('workload', wl.WORKLOADS)
def test_workload_models_and_data(workload):
  model, shape = jax_worker.build_model(workload)
  params = model.init(jax.random.PRNGKey(0), jax_worker.sample_input(workload))
  assert sum(a.size for a in jax.tree.leaves(params)) == wl.NUM_PARAMS[workload]
  x, y, counts = wl.make_data(workload, 3)
  labels = wl.LABEL_SHAPES.get(workload, ())
  assert x.shape == (3, wl.EXAMPLES) + shape
  assert x.dtype == (np.int32 if workload == 'lstm' else np.float32)
  assert y.shape == (3, wl.EXAMPLES) + labels and 0 <= y.min() and y.max() < wl.SHAPES[workload][1]
  if workload == 'lstm':  # each label is the next character of its sequence, never padding
    np.testing.assert_array_equal(x[:, :, 1:], y[:, :, :-1])
    assert x.min() >= 1
  np.testing.assert_array_equal(counts, wl.EXAMPLES)
  again, _, _ = wl.make_data(workload, 3)
  np.testing.assert_array_equal(x, again)


def test_ragged_sizes_are_heavy_tailed_and_flat_matches_their_steps():
  ragged = wl.client_sizes('ragged', 1000)
  assert ragged.min() >= 1 and 60 < ragged.mean() < 100
  assert ragged.max() > 10 * np.median(ragged)  # a few clients hold 10x the median
  plan = wl.schedule('ragged')
  steps = wl.client_steps(ragged, plan).sum()
  flat = wl.client_sizes('flat', 1000)
  assert len(set(flat)) == 1
  assert abs(wl.client_steps(flat, plan).sum() - steps) <= 500  # rounding of steps/client
  x, y, counts = wl.make_data('logistic', 50, sizes='ragged')
  np.testing.assert_array_equal(counts, wl.client_sizes('ragged', 50))
  assert x.shape[1] == counts.max()
  for c, n in enumerate(counts):  # zero past each client's size
    assert not x[c, n:].any() and not y[c, n:].any() and x[c, :n].any()


def test_synthetic_labels_follow_each_clients_own_model():
  # Synthetic(1, 1): labels are the argmax of a per-client linear model, so a
  # per-client least-squares fit predicts its own labels far better than
  # another client's.
  x, y, _ = wl.make_data('logistic', 2)
  onehot = np.eye(10)[y]
  design = [np.c_[xc, np.ones(len(xc))] for xc in x]
  fits = [np.linalg.lstsq(d, o, rcond=None)[0] for d, o in zip(design, onehot)]
  own = np.mean([(design[c] @ fits[c]).argmax(1) == y[c] for c in range(2)])
  other = np.mean([(design[c] @ fits[1 - c]).argmax(1) == y[c] for c in range(2)])
  assert own > 0.7 and own > other + 0.2


def test_compare_peers_runs_interleaved_and_reports_speedups(tmp_path):
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'compare_peers.py'),
       '--workload=logistic', '--clients=6', '--repeats=2',
       '--systems=fedjax_sim:sequential@2,jit_loop'],
      capture_output=True, text=True, timeout=600, cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  rows = [line.split('|')[1:-1] for line in out.stdout.splitlines()
          if line.startswith('| 6 |')]
  assert [r[1].strip() for r in rows] == ['fedjax_sim:sequential@2', 'jit_loop']
  seconds = [float(r[2]) for r in rows]
  assert all(s > 0 for s in seconds)
  # Client-steps/s is printed to the unit; round seconds to 4 digits, GFLOP/s
  # to 3 (at 0.539 GFLOP/s, one decimal read as 47,353 FLOPs a step).
  steps_per_s = float(rows[0][3].replace(',', ''))
  assert steps_per_s == pytest.approx(60 / seconds[0], rel=0.01, abs=0.5)
  # A step of batch 20 is two 20x60x10 matmuls (forward, weight gradient):
  # 48,000 FLOPs, plus the softmax and the update (XLA counts 51,058).
  gflops, percent = float(rows[0][4]), float(rows[0][5].strip()[:-1])
  assert 48_000 <= gflops * 1e9 / steps_per_s <= 60_000
  # % of the peak timed before this system's samples (its median).
  peaks = out.stdout.split('6 clients: matmul peak before the samples (median, GFLOP/s): ')[1]
  peak = float(peaks.split('fedjax_sim:sequential@2 ')[1].split(' ')[0])
  assert 1 < peak < 1e5 and percent == pytest.approx(100 * gflops / peak, abs=1)
  assert rows[0][6].strip() == '1.0x'
  assert float(rows[1][6].strip()[:-1]) == pytest.approx(seconds[1] / seconds[0], abs=0.06)
  # Rounds of milliseconds are timed in samples of many rounds (default 1 s).
  counts = dict(item.rsplit(' ', 1) for item in
                out.stdout.split('6 clients: rounds per timed sample: ')[1].split('\n')[0]
                .split(', '))
  assert list(counts) == ['fedjax_sim:sequential@2', 'jit_loop']
  assert all(1 < int(n) <= launch.MAX_ROUNDS_PER_SAMPLE for n in counts.values())


def test_rounds_per_sample_fill_the_sample_seconds_within_bounds():
  assert launch.rounds_per_sample(0.03, 1.0) == 34
  assert launch.rounds_per_sample(0.25, 1.0) == 4
  assert launch.rounds_per_sample(2.0, 1.0) == 1
  assert launch.rounds_per_sample(1e-4, 1.0) == launch.MAX_ROUNDS_PER_SAMPLE
  assert launch.rounds_per_sample(0.03, 0.) == 1


# (workload, sizes) of the smoke runs: the new workloads on their real-data sizes.
SMOKE = [('cnn', 'emnist'), ('lstm', 'shakespeare')]
SMOKE_CLIENTS = 2  # the smallest run: Flower starts an actor per CPU, FedJAX compiles once


def run_compare(tmp_path, workload: str, sizes: str, systems: list[str]) -> None:
  """compare_peers.py on `SMOKE_CLIENTS` clients, one repetition: each system's
  row, a positive round time and the real client-steps/s of these sizes."""
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'compare_peers.py'),
       f'--workload={workload}', f'--sizes={sizes}', f'--clients={SMOKE_CLIENTS}',
       '--repeats=1', f"--systems={','.join(systems)}"],
      capture_output=True, text=True, timeout=900, cwd=tmp_path, env=peer_env())
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
  rows = [line.split('|')[1:-1] for line in out.stdout.splitlines()
          if line.startswith(f'| {SMOKE_CLIENTS} |')]
  assert [r[1].strip() for r in rows] == systems
  steps = wl.client_steps(wl.client_sizes(sizes, SMOKE_CLIENTS), wl.schedule(sizes)).sum()
  for row in rows:
    seconds = float(row[2])
    assert seconds > 0
    assert float(row[3].replace(',', '')) == pytest.approx(steps / seconds, rel=0.01, abs=0.5)


# The peers of each smoke run. FedJAX's LSTM is left out: XLA takes about 11
# minutes (6 CPU-minutes) to compile its step of 80 unrolled LSTM cells on this
# CPU, once per fresh venv; `benchmarks/headline.py` times it.
SMOKE_PEERS = {'cnn': ['fedjax', 'flower', 'pfl'], 'lstm': ['flower', 'pfl']}


@pytest.mark.parametrize('workload,sizes', SMOKE)
def test_peers_run_the_real_data_workloads(tmp_path, workload, sizes):
  for peer in SMOKE_PEERS[workload]:
    require_peer(peer)
  run_compare(tmp_path, workload, sizes, ['fedjax_sim:auto'] + SMOKE_PEERS[workload])


def test_flower_takes_every_size_distribution_jit_loop_only_equal(tmp_path):
  python = tmp_path / 'flower' / 'bin' / 'python'
  python.parent.mkdir(parents=True)
  python.touch()
  for sizes in wl.SIZES:
    command = launch.worker_command('flower', 'lstm', 3, 1, venvs=str(tmp_path), sizes=sizes)
    assert command[0] == str(python) and '--workload=lstm' in command
    assert (f'--sizes={sizes}' in command) == (sizes != 'equal')
  with pytest.raises(ValueError, match='jit_loop runs --sizes=equal only'):
    launch.worker_command('jit_loop', 'mlp', 3, 1, sizes='emnist')


def test_unknown_system_and_missing_peer_environment_are_clear_errors(tmp_path):
  with pytest.raises(ValueError, match="unknown system 'fedml'"):
    launch.worker_command('fedml', 'mlp', 10, 1)
  with pytest.raises(FileNotFoundError, match='setup_venv.sh flower'):
    launch.worker_command('flower', 'mlp', 10, 1, venvs=str(tmp_path))


def test_population_benchmark_measures_the_placements():
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'population.py'),
                        '--clients=300', '--placements=device,disk', '--rounds=2'],
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [line.split('|')[1:-1] for line in out.stdout.splitlines()
          if line.startswith('| 300 |')]
  assert [r[1].strip() for r in rows] == ['device', 'disk']
  device_mb = {r[1].strip(): float(r[2]) for r in rows}  # 'failed: ...' would not parse
  assert device_mb['disk'] < device_mb['device']


def test_headline_table_names_the_date_cpu_command_and_each_peer(tmp_path):
  out_file = tmp_path / 'headline.md'
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'headline.py'),
       '--rows=logistic:equal', '--systems=fedjax_sim:auto,jit_loop', '--repeats=1',
       '--sample_seconds=0', f'--out={out_file}'],
      capture_output=True, text=True, timeout=600, cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  # --sample_seconds reaches compare_peers.py: 0 is one round per sample.
  assert '1000 clients: rounds per timed sample: fedjax_sim:auto 1, jit_loop 1' in out.stdout
  text = out_file.read_text()
  header, table = text.split('\n\n', 1)
  assert header.startswith(datetime.date.today().isoformat())
  with open('/proc/cpuinfo') as f:
    assert f.read().split('model name')[1].split(':', 1)[1].split('\n')[0].strip() in header
  assert '`python benchmarks/headline.py --rows=logistic:equal' in header
  rows = [line.split('|')[1:-1] for line in table.splitlines() if line.startswith('| Logistic')]
  assert len(rows) == 1
  label, clients, steps, percent, peer = (c.strip() for c in rows[0])
  assert (label, clients) == ('Logistic regression, equal', '1000')
  assert float(steps.replace(',', '')) > 0 and percent.endswith('%')
  peer_steps, ratio = peer.split(' (')
  # The peer's steps/s times its slowdown is the first system's steps/s (rounded cells).
  assert float(peer_steps.replace(',', '')) * float(ratio.rstrip('x)')) == pytest.approx(
      float(steps.replace(',', '')), rel=0.1)


def test_headline_names_each_peer_with_the_version_in_its_venv(tmp_path):
  site = tmp_path / 'fedjax' / 'lib' / 'python3.11' / 'site-packages'
  (site / 'fedjax-9.8.7.dist-info').mkdir(parents=True)
  (site / 'fedjax_extra-1.0.dist-info').mkdir()  # another package, not a version
  code = ('import sys; sys.path.insert(0, "benchmarks"); import headline; '
          f'print([headline.peer_name(p, {str(tmp_path)!r}) for p in '
          '("fedjax", "pfl", "fedjax_sim:auto")])')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "['FedJAX 9.8.7', 'pfl', 'fedjax_sim:auto']"


@pytest.mark.parametrize('script,args,message', [
    ('compare_peers.py', ['--workload=cnn', '--sizes=emnist', '--clients=5000'],
     'compare_peers.py: --clients must be at most 3400 for these sizes (the population), '
     'got 5000'),
    ('compare_peers.py', ['--clients=10,abc'],
     "compare_peers.py: --clients must be positive integers, got '10,abc'"),
    ('compare_peers.py', ['--repeats=0'],
     'compare_peers.py: --repeats must be a positive integer, got 0'),
    ('compare_peers.py', ['--sample_seconds=-1'],
     'compare_peers.py: --sample_seconds must be 0 or more seconds, got -1'),
    ('headline.py', ['--sample_seconds=nan'],
     'headline.py: --sample_seconds must be 0 or more seconds, got nan'),
    ('headline.py', ['--rows=mlp:equal,cnn:ragged'],
     "headline.py: --rows: unknown row 'cnn:ragged'; expected some of"),
    ('cnn_step_ab.py', ['--variants=default,bogus'],
     "cnn_step_ab.py: --variants: unknown variant 'bogus'; expected one of default, taps"),
])
def test_benchmark_scripts_refuse_bad_input_in_one_line(tmp_path, script, args, message):
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', script)] + args,
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
  assert out.returncode == 2, out.stderr[-2000:]
  assert out.stderr.strip().startswith(message) and len(out.stderr.strip().splitlines()) == 1
  assert out.stdout == ''


def test_compare_peers_ctrl_c_is_one_line_and_stops_its_workers(tmp_path):
  # As a terminal's Ctrl-C: SIGINT to the whole process group, workers included.
  # The script starts with Ctrl-C's default action even when this suite runs as
  # a shell's background job (`interruptible.popen`).
  proc = interruptible.popen(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'compare_peers.py'),
       '--workload=logistic', '--clients=6', '--repeats=100000',
       '--systems=fedjax_sim:sequential,jit_loop'],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
      start_new_session=True)
  for line in proc.stdout:  # the table's header: the workers are being started
    if line.startswith('|---'):
      break
  time.sleep(15)
  assert interruptible.ctrl_c(proc) == (
      'compare_peers.py: interrupted; rounds not yet timed are not reported')


def test_lstm_step_ab_times_this_layer_against_a_revision_of_it():
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'lstm_step_ab.py'),
                        '--against=HEAD', '--repeats=1', '--steps=1'],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  lines = out.stdout.strip().splitlines()
  # One SGD step of a layer that computes the same values: the layers at
  # HEAD and here end within float32 rounding (identical when unchanged).
  diff = float(lines[0].split('parameters differ by ')[1].split()[0])
  assert diff < 1e-6
  rates = {line.split(':')[0].strip(): float(line.split(':')[1].split()[0]) for line in lines[1:]}
  assert set(rates) == {'here', 'HEAD'} and min(rates.values()) > 0
