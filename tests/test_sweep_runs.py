"""Sweeps from the command line: a sweep killed mid-run (SIGKILL) and
resumed, and a finished sweep extended, end bit-identical to an
uninterrupted one (every member's logs and the checkpointed state); a sweep
on a 2-device mesh equals its members' single runs."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp

from conftest import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = ['--config=' + os.path.join(ROOT, 'configs', 'default.py') + ':synthetic',
         '--sweep=client.optimizer.learning_rate=0.05,0.2', '--sweep=seed=0,1',
         '--config.data.seed=0', '--config.eval_every=2', '--config.checkpoint.every=1',
         '--config.clients_per_round=6']
VOLATILE = ('time', 'rounds_per_sec')


def command(workdir, rounds, *extra):
  return [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), *SWEEP,
          f'--config.rounds={rounds}', f'--workdir={workdir}', *extra]


def run(workdir, rounds, *extra):
  result = subprocess.run(command(workdir, rounds, *extra) + ['--progress=none'] * (
      '--progress=lines' not in extra), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  return result


def rows(path):
  with open(path) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE}
            for line in f]


def final_leaves(workdir, rounds):
  """The arrays of the group's final checkpoint (every member's state and the
  frozen rounds), read on one CPU device."""
  import jax
  path = os.path.join(workdir, 'checkpoints', 'group-0', str(rounds), 'default')
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  with ocp.StandardCheckpointer() as reader:
    like = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=cpu),
                        reader.metadata(path).item_metadata.tree)
    return [np.asarray(leaf) for leaf in jax.tree.leaves(reader.restore(path, like))]


def assert_same_sweep(a, b, rounds):
  for member in ('0000', '0001', '0002', '0003'):
    for name in ('metrics.jsonl', 'client_norms.jsonl'):
      assert rows(os.path.join(a, 'members', member, name)) == rows(
          os.path.join(b, 'members', member, name)), (member, name)
  for x, y in zip(final_leaves(a, rounds), final_leaves(b, rounds), strict=True):
    np.testing.assert_array_equal(x, y)


def test_killed_and_extended_sweeps_equal_an_uninterrupted_one(tmp_path):
  reference, killed, extended = (str(tmp_path / n) for n in ('reference', 'killed', 'extended'))
  run(reference, 6)
  process = subprocess.Popen(command(killed, 6), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  norms = os.path.join(killed, 'members', '0003', 'client_norms.jsonl')
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    if os.path.exists(norms) and len(open(norms).readlines()) >= 3:
      break
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL  # killed mid-sweep, not finished
  assert 'resumed sweep members 0-3 after round' in run(killed, 6, '--resume', '--progress=lines').stdout
  assert_same_sweep(reference, killed, 6)
  run(extended, 4)  # ends on an evaluation round, as the reference evaluates
  run(extended, 6, '--resume')
  assert_same_sweep(reference, extended, 6)


MESH_SCRIPT = '''
import sys
sys.path.insert(0, {root!r})
import jax
import numpy as np
import fedjax_sim as fs
from configs import default
from fedjax_sim.config import sweep as sweep_lib
assert jax.device_count() == 2
c = default.get_config('synthetic')
c.rounds, c.eval_every, c.clients_per_round, c.data.seed = 3, 1, 6, 0
c.algorithm = 'scaffold'
c.engine.shard_clients = True
c.sweep = sweep_lib.sweep_section({{'client.optimizer.learning_rate': (0.02, 0.1),
                                    'seed': (0, 1)}})
histories = fs.sweep(c, log=lambda line: None)
for member, history in zip(sweep_lib.members(c), histories):
  single = fs.train(member.config, log=lambda line: None, progress='none')
  for got, want in zip(history, single):
    for key in ('test_loss', 'train_loss', 'client_train_loss'):
      np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6)
print('members equal their single runs:', len(histories))
'''


def test_sweep_on_a_two_device_mesh_equals_single_runs():
  env = {**os.environ, 'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2')}
  result = subprocess.run([sys.executable, '-c', MESH_SCRIPT.format(root=ROOT)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'members equal their single runs: 4' in result.stdout


def test_print_config_lists_members_and_groups():
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), '--sweep=fedprox.mu=0,0.1',
       '--sweep=seed=1,2', '--print_config'], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr
  tail = result.stdout.splitlines()[-8:]
  assert tail[:3] == ['sweep: 4 members in 2 group(s), one program per group',
                      '  group 0: 2 members (0, 2), traced: fedprox.mu; seed=1',
                      '  group 1: 2 members (1, 3), traced: fedprox.mu; seed=2']
  assert tail[3].startswith('  (seed is not traced')
  assert tail[4:] == ['  member 0: fedprox.mu=0.0, seed=1', '  member 1: fedprox.mu=0.0, seed=2',
                      '  member 2: fedprox.mu=0.1, seed=1', '  member 3: fedprox.mu=0.1, seed=2']


def test_bad_sweep_flags_are_one_line():
  for flag, line in [
      ('--sweep=client.optimizer.learning_rat=0.1', 'error: --sweep=client.optimizer.'
       'learning_rat=...: the config has no such field'),
      ('--sweep=seed=a,1', "error: --sweep=seed='a': expected int"),
      ('--sweep=seed', "error: --sweep='seed': expected FIELD=VALUE,VALUE,... (e.g. "
       '--sweep=client.optimizer.learning_rate=0.01,0.1)'),
      ('--sweep=seed=0,1 --sweep=seed=2', 'error: --sweep=seed=... is given 2 times; give each '
       'field once, with all its values (FIELD=V1,V2,...)')]:
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'),
                             *flag.split()],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stderr.strip()) == (2, line)
