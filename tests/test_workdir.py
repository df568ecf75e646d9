"""Runs write their workdir; bad workdirs are one clear error with nothing
overwritten; a corrupt checkpoint falls back to the newest intact one; a
finished run extends. (SIGKILL trials: tests/test_fault_injection.py.)"""

import glob
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from configs import default
from fedjax_sim.rundir import checkpoint
from fedjax_sim.rundir import runlog
from fedjax_sim.core import init_state
from fedjax_sim.errors import ConfigError
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.train import train

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
  return checkpoint.restore_latest(mgr, like, pytest.fail)


def test_workdir_holds_config_metrics_tensorboard_checkpoints_report(tmp_path):
  config, workdir = small_config(), str(tmp_path / 'run')
  history = train(config, log=lambda line: None, workdir=workdir)
  assert runlog.read_json(os.path.join(workdir, 'config.json'))['rounds'] == 6
  rows = runlog.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  assert [r['round'] for r in rows] == [3, 6]
  assert [r['test_accuracy'] for r in rows] == [h['test_accuracy'] for h in history]
  norms = runlog.read_jsonl(os.path.join(workdir, 'client_norms.jsonl'))
  assert [r['round'] for r in norms] == list(range(1, 7))
  assert all(len(r['norms']) == 4 and min(r['norms']) > 0 for r in norms)
  assert all(len(set(r['clients'])) == 4 and set(r['clients']) <= set(range(20))
             for r in norms)  # the sampled clients' ids, in the norms' order
  events = event_accumulator.EventAccumulator(os.path.join(workdir, 'tensorboard'))
  events.Reload()
  accuracy = events.Scalars('eval/test_accuracy')
  assert [e.step for e in accuracy] == [3, 6]
  np.testing.assert_allclose([e.value for e in accuracy], [r['test_accuracy'] for r in rows],
                             rtol=1e-6)
  assert len(events.Scalars('round/train_loss')) == 6
  # The config as TensorBoard hparams, by dotted field name.
  start = plugin_data_pb2.HParamsPluginData.FromString(
      events.PluginTagToContent('hparams')['_hparams_/session_start_info']).session_start_info
  assert start.hparams['algorithm'].string_value == 'fedavg'
  assert start.hparams['client.optimizer.learning_rate'].number_value == 0.1
  assert start.hparams['clients_per_round'].number_value == 4
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
  with pytest.raises(ConfigError, match=r'another config \(client\.batch_size: \d+ in the run, '
                     r'7 now\); --resume needs the same --config and overrides'):
    train(other, log=lambda line: None, workdir=workdir, resume=True)
  with pytest.raises(ConfigError, match='already holds this run; pass --resume'):
    train(small_config(), log=lambda line: None, workdir=workdir)
  after = {p: os.path.getmtime(p) for p in glob.glob(f'{workdir}/**', recursive=True)}
  assert after == before


def flip_one_bit(path):
  with open(path, 'r+b') as f:
    data = bytearray(f.read())
    data[len(data) // 2] ^= 1
    f.seek(0)
    f.write(data)


def test_corrupt_newest_checkpoint_falls_back_bit_identically(tmp_path):
  whole, hurt = str(tmp_path / 'whole'), str(tmp_path / 'hurt')
  train(small_config(), log=lambda line: None, workdir=whole)
  train(small_config(), log=lambda line: None, workdir=hurt)
  data_files = [p for p in glob.glob(f'{hurt}/checkpoints/6/default/**/d/*', recursive=True)]
  flip_one_bit(max(data_files, key=os.path.getsize))  # one bit of the arrays
  lines = []
  config = small_config(rounds=6)
  train(config, log=lines.append, workdir=hurt, resume=True)
  assert lines[0] == f'resumed {hurt} after round 4'
  (n1, a), (n2, b) = final_state(config, whole), final_state(config, hurt)
  assert n1 == n2 == 6
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert os.listdir(f'{hurt}/checkpoints_corrupt') == ['6']  # kept, out of the way


def checkpoint_file_kinds(step_dir):
  """One file of each kind in a checkpoint, by its name pattern."""
  kinds = {}
  for path in sorted(glob.glob(f'{step_dir}/**/*', recursive=True)):
    if os.path.isfile(path):
      rel = os.path.relpath(path, step_dir)
      kinds.setdefault('/d/' if '/d/' in f'/{rel}' else os.path.basename(rel), path)
  return kinds


def test_every_corrupt_checkpoint_file_kind_is_caught_and_named(tmp_path):
  workdir = str(tmp_path / 'run')
  config = small_config()
  train(config, log=lambda line: None, workdir=workdir)
  exp = build_experiment(config)
  params = exp.model.init(jax.random.PRNGKey(0), jnp.asarray(exp.dataset.test['x'][:1]))
  like = init_state(exp.algorithm, params, exp.dataset.train.num_clients)
  pristine = str(tmp_path / 'pristine')
  os.rename(workdir, pristine)
  kinds = checkpoint_file_kinds(f'{pristine}/checkpoints/6')
  assert {'/d/', 'sha256sums.json', '_CHECKPOINT_METADATA', '_METADATA',
          'manifest.ocdbt'} <= set(kinds)
  for kind, path in kinds.items():
    for damage in ('flip', 'truncate', 'delete'):
      shutil.rmtree(workdir, ignore_errors=True)
      shutil.copytree(pristine, workdir)
      target = os.path.join(workdir, os.path.relpath(path, pristine))
      if damage == 'flip':
        flip_one_bit(target)
      elif damage == 'truncate':
        os.truncate(target, os.path.getsize(target) // 2)
      else:
        os.remove(target)
      warnings = []
      mgr = checkpoint.manager(os.path.join(workdir, 'checkpoints'), 3)
      step, state = checkpoint.restore_latest(mgr, like, warnings.append)
      assert step == 4, (kind, damage)
      assert len(warnings) == 1 and warnings[0].startswith(
          f'warning: checkpoint {workdir}/checkpoints/6 is corrupt: '), (kind, damage, warnings)
      assert sorted(os.listdir(f'{workdir}/checkpoints')) == ['2', '4']
  mgr = checkpoint.manager(os.path.join(pristine, 'checkpoints'), 3)
  assert checkpoint.restore_latest(mgr, like, pytest.fail)[0] == 6


def test_run_files_without_config_are_refused_and_kept(tmp_path):
  workdir = str(tmp_path / 'run')
  train(small_config(), log=lambda line: None, workdir=workdir)
  os.remove(os.path.join(workdir, 'config.json'))  # e.g. to get past the refusal
  before = {p: os.path.getmtime(p) for p in glob.glob(f'{workdir}/**', recursive=True)}
  other = small_config()
  other.client.batch_size = 7
  for resume in (False, True):
    with pytest.raises(ConfigError, match=r'holds run files \(metrics.jsonl, client_norms.jsonl, '
                       r'clients.json, checkpoints, tensorboard, report.html\) but no config.json'):
      train(other, log=lambda line: None, workdir=workdir, resume=resume)
  after = {p: os.path.getmtime(p) for p in glob.glob(f'{workdir}/**', recursive=True)}
  assert after == before


def test_resume_needs_a_run(tmp_path):
  for workdir in (str(tmp_path / 'missing'), str(tmp_path)):
    with pytest.raises(ConfigError, match='--resume: --workdir .* holds no run to resume'):
      train(small_config(), log=lambda line: None, workdir=workdir, resume=True)
  assert os.listdir(tmp_path) == []


def test_finished_run_says_so_and_extends_bit_identically(tmp_path):
  longer, extended = str(tmp_path / 'longer'), str(tmp_path / 'extended')
  train(small_config(9), log=lambda line: None, workdir=longer)
  train(small_config(6), log=lambda line: None, workdir=extended)
  lines = []
  assert train(small_config(6), log=lines.append, workdir=extended, resume=True) == []
  assert lines == [f'{extended} is complete: 6 of 6 rounds done; to extend it, '
                   '--resume with a larger --config.rounds']
  with pytest.raises(ConfigError, match='holds this run with rounds=6; pass --resume to '
                     'extend it to 9 rounds'):
    train(small_config(9), log=lambda line: None, workdir=extended)
  with pytest.raises(ConfigError, match='--config.rounds=5 is fewer than the 6 rounds'):
    train(small_config(5), log=lambda line: None, workdir=extended, resume=True)
  train(small_config(9), log=lambda line: None, workdir=extended, resume=True)
  (n1, a), (n2, b) = final_state(small_config(9), longer), final_state(small_config(9), extended)
  assert n1 == n2 == 9
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert runlog.read_json(os.path.join(extended, 'config.json'))['rounds'] == 9
  strip = lambda rows: [{k: v for k, v in r.items() if k not in ('time', 'rounds_per_sec')}
                        for r in rows]
  assert strip(runlog.read_jsonl(f'{extended}/metrics.jsonl')) == strip(
      runlog.read_jsonl(f'{longer}/metrics.jsonl'))


def test_unwritable_workdir_is_one_clear_error(tmp_path):
  if os.geteuid() == 0:  # root writes through file modes
    workdir = '/sys/fedjax_sim_run'
  else:
    os.chmod(tmp_path, 0o555)
    workdir = str(tmp_path / 'run')
  with pytest.raises(ConfigError, match=f'--workdir {workdir!r} cannot be written: '):
    train(small_config(), log=lambda line: None, workdir=workdir)


def test_progress_bar_keeps_eval_lines_above_it(tmp_path):
  proc = subprocess.run([sys.executable, SCRIPT, '--config.rounds=3', '--progress=bar'],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0 and '3/3' in proc.stderr  # the bar
  assert proc.stdout.split('\n')[1].startswith('round     3')  # eval lines, above the bar
