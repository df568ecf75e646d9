"""pfl (Apple's pfl-research 0.6.0, PyTorch) runs as a peer of the benchmark
suite: `compare_peers.py` times it next to fedjax_sim, and its worker builds
every workload's model with the parameter count the suite checks.
(`tests/test_peer_equivalence.py` checks its FedAvg round's values.)

Needs pfl in its own environment, `benchmarks/.venvs/pfl` (`bash
benchmarks/peers/setup_venv.sh pfl`, which `.ci/setup` runs). Skipped without
it, except where FEDJAX_SIM_REQUIRE_PEERS is set (`.ci/run` sets it after
`.ci/setup` built the environment): then a missing pfl fails.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks', 'peers'))

import launch  # noqa: E402
import protocol  # noqa: E402
import workloads as wl  # noqa: E402

PFL_PYTHON = os.path.join(launch.DEFAULT_VENVS, 'pfl', 'bin', 'python')
REQUIRE_PEERS = 'FEDJAX_SIM_REQUIRE_PEERS'
MISSING = (f'the pfl peer needs {PFL_PYTHON}; create it with '
           '`bash benchmarks/peers/setup_venv.sh pfl` (pfl 0.6.0, its own venv)')


def require_pfl() -> None:
  """Skips without pfl's environment, or fails where REQUIRE_PEERS is set."""
  if os.path.exists(PFL_PYTHON):
    return
  if os.environ.get(REQUIRE_PEERS, '') not in ('', '0'):
    pytest.fail(f'{MISSING}; {REQUIRE_PEERS} is set, so this test must run')
  pytest.skip(MISSING)


def test_compare_peers_times_pfl_next_to_fedjax_sim(tmp_path):
  require_pfl()
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'benchmarks', 'compare_peers.py'),
       '--workload=logistic', '--clients=4', '--repeats=1',
       '--systems=fedjax_sim:auto,pfl'],
      capture_output=True, text=True, timeout=600, cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  rows = [line.split('|')[1:-1] for line in out.stdout.splitlines()
          if line.startswith('| 4 |')]
  assert [r[1].strip() for r in rows] == ['fedjax_sim:auto', 'pfl']
  assert all(float(r[2]) > 0 for r in rows)
  assert float(rows[1][3].replace(',', '')) > 0  # client-steps/s


@pytest.mark.parametrize('workload', ['cnn', 'lstm'])
def test_pfl_worker_builds_the_workload_model(workload):
  # logistic and mlp: the test above and the equivalence tests.
  require_pfl()
  out = subprocess.run(launch.worker_command('pfl', workload, 1, 1), input='quit\n',
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  messages = [m for m in map(protocol.parse, out.stdout.splitlines()) if m]
  assert [kind for kind, _ in messages] == ['ready']
  info = messages[0][1]
  assert info['num_params'] == wl.NUM_PARAMS[workload]
  assert info['version'].startswith('pfl 0.6.0, torch ')
