"""Runs write their workdir; a SIGKILLed run resumes bit-identically; bad
workdirs and corrupt checkpoints are one clear error with nothing overwritten."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from configs import default
from fedjax_sim import checkpoint, runlog
from fedjax_sim.core import init_state
from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.train import build_experiment, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'train.py')


def small_config(rounds=6):
  config = default.get_config()
  config.rounds, config.eval_every, config.clients_per_round = rounds, 3, 4
  config.checkpoint.every = 2
  return config


def final_state(config, workdir):
  """The newest checkpoint of `workdir`, restored like a fresh state."""
  exp = build_experiment(config)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  like = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  mgr = checkpoint.manager(os.path.join(workdir, 'checkpoints'), 3)
  return checkpoint.restore_latest(mgr, like)


def test_workdir_holds_config_metrics_tensorboard_checkpoints_report(tmp_path):
  config, workdir = small_config(), str(tmp_path / 'run')
  history = train(config, log=lambda line: None, workdir=workdir)
  assert runlog.read_json(os.path.join(workdir, 'config.json'))['rounds'] == 6
  rows = runlog.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  assert [r['round'] for r in rows] == [3, 6]
  assert [r['accuracy'] for r in rows] == [h['accuracy'] for h in history]
  norms = runlog.read_jsonl(os.path.join(workdir, 'client_norms.jsonl'))
  assert [r['round'] for r in norms] == list(range(1, 7))
  assert all(len(r['norms']) == 4 and min(r['norms']) > 0 for r in norms)
  events = event_accumulator.EventAccumulator(os.path.join(workdir, 'tensorboard'))
  events.Reload()
  accuracy = events.Scalars('eval/accuracy')
  assert [e.step for e in accuracy] == [3, 6]
  np.testing.assert_allclose([e.value for e in accuracy], [r['accuracy'] for r in rows],
                             rtol=1e-6)
  assert len(events.Scalars('round/train_loss')) == 6
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4', '6']
  assert os.path.exists(os.path.join(workdir, 'report.html'))
  rounds_done, _ = final_state(config, workdir)
  assert rounds_done == 6


def test_refuses_other_experiment_and_unrequested_overwrite(tmp_path):
  workdir = str(tmp_path / 'run')
  train(small_config(), log=lambda line: None, workdir=workdir)
  before = {p: os.path.getmtime(p) for p in glob.glob(f'{workdir}/**', recursive=True)}
  other = small_config()
  other.client.batch_size = 7
  with pytest.raises(ConfigError, match=r'holds a different experiment.*client\.batch_size'):
    train(other, log=lambda line: None, workdir=workdir, resume=True)
  with pytest.raises(ConfigError, match='already holds this run; pass --resume'):
    train(small_config(), log=lambda line: None, workdir=workdir)
  after = {p: os.path.getmtime(p) for p in glob.glob(f'{workdir}/**', recursive=True)}
  assert after == before


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
  workdir = str(tmp_path / 'run')
  train(small_config(), log=lambda line: None, workdir=workdir)
  for path in glob.glob(f'{workdir}/checkpoints/6/default/**/*', recursive=True):
    if os.path.isfile(path):
      with open(path, 'wb') as f:
        f.write(b'garbage')
  with pytest.raises(DataError, match=r'checkpoint .*6 is corrupt'):
    train(small_config(), log=lambda line: None, workdir=workdir, resume=True)


def run_script(workdir, *extra):
  return subprocess.Popen(
      [sys.executable, SCRIPT, f'--workdir={workdir}', '--config.rounds=400',
       '--config.eval_every=100', '--config.checkpoint.every=10', '--progress=none',
       *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_is_bit_identical(tmp_path):
  whole, killed = str(tmp_path / 'whole'), str(tmp_path / 'killed')
  assert run_script(whole).wait(timeout=300) == 0
  proc = run_script(killed)
  deadline = time.time() + 300
  while not os.path.exists(os.path.join(killed, 'checkpoints', '50')):
    assert proc.poll() is None and time.time() < deadline, proc.communicate()
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = final_state(small_config(400), killed)[0]
  assert done < 400  # really interrupted mid-run
  resumed = run_script(killed, '--resume', '--progress=lines')
  out, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  assert out.startswith(f'resumed {killed} after round {done}\n')  # not from scratch
  config = default.get_config()
  config.rounds, config.eval_every, config.checkpoint.every = 400, 100, 10
  (n1, a), (n2, b) = final_state(config, whole), final_state(config, killed)
  assert n1 == n2 == 400
  jax.tree.map(np.testing.assert_array_equal, a, b)
  rows = [json.dumps({k: v for k, v in r.items() if k not in ('time', 'rounds_per_sec')})
          for r in runlog.read_jsonl(os.path.join(killed, 'metrics.jsonl'))]
  whole_rows = [json.dumps({k: v for k, v in r.items() if k not in ('time', 'rounds_per_sec')})
                for r in runlog.read_jsonl(os.path.join(whole, 'metrics.jsonl'))]
  assert rows == whole_rows


def test_progress_bar_and_resume_without_workdir(tmp_path):
  proc = subprocess.run([sys.executable, SCRIPT, '--config.rounds=3', '--progress=bar'],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0 and '3/3' in proc.stderr  # the bar
  assert proc.stdout.split('\n')[1].startswith('round     3')  # eval lines, above the bar
  proc = subprocess.run([sys.executable, SCRIPT, '--resume'], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 2 and proc.stderr.strip() == 'error: --resume needs --workdir'
