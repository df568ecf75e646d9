"""pfl (Apple's pfl-research 0.6.0, PyTorch) runs as a peer of the benchmark
suite: its worker builds every workload's model with the parameter count the
suite checks (`tests/test_benchmarks.py` times it next to fedjax_sim in
`compare_peers.py`).
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
from peer_venvs import require_peer  # noqa: E402

@pytest.mark.parametrize('workload', ['cnn', 'lstm'])
def test_pfl_worker_builds_the_workload_model(workload):
  # logistic and mlp: the equivalence tests.
  require_peer('pfl')
  out = subprocess.run(launch.worker_command('pfl', workload, 1, 1), input='quit\n',
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  messages = [m for m in map(protocol.parse, out.stdout.splitlines()) if m]
  assert [kind for kind, _ in messages] == ['ready']
  info = messages[0][1]
  assert info['num_params'] == wl.NUM_PARAMS[workload]
  assert info['version'].startswith('pfl 0.6.0, torch ')
