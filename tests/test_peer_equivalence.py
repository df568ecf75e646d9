"""FedJAX and fedjax_sim compute the same FedAvg round (parameter values, not
counts): the benchmark workers of both, run with `--dump_params`, start from
the same parameters (`workloads.initial_params`), train every client of the
`whole` workload (client sizes dividing the batch, so each system's own
shuffling of the examples cannot change the round) and must end with the
same server parameters.

Needs FedJAX 0.0.17 in its own environment, `benchmarks/.venvs/fedjax`
(`bash benchmarks/peers/setup_venv.sh fedjax`, which `.ci/setup` runs). Skipped
without it, except where FEDJAX_SIM_REQUIRE_PEERS is set (`.ci/run` sets it
after `.ci/setup` built the environment): then a missing FedJAX fails.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks', 'peers'))

import launch  # noqa: E402
import workloads as wl  # noqa: E402

FEDJAX_PYTHON = os.path.join(launch.DEFAULT_VENVS, 'fedjax', 'bin', 'python')
TOLERANCE = 1e-5
CLIENTS = 2 * len(wl.WHOLE_SIZES)  # each size twice

REQUIRE_PEERS = 'FEDJAX_SIM_REQUIRE_PEERS'
MISSING = (f'FedJAX equivalence needs {FEDJAX_PYTHON}; create it with '
           '`bash benchmarks/peers/setup_venv.sh fedjax` (FedJAX 0.0.17, its own venv)')


def require_fedjax() -> None:
  """Skips without FedJAX's environment, or fails where REQUIRE_PEERS is set."""
  if os.path.exists(FEDJAX_PYTHON):
    return
  if os.environ.get(REQUIRE_PEERS, '') not in ('', '0'):
    pytest.fail(f'{MISSING}; {REQUIRE_PEERS} is set, so this test must run')
  pytest.skip(MISSING)


def test_whole_workload_does_not_depend_on_example_order():
  # Every batch holds whole passes over its client's data, in both systems:
  # each size divides the batch, and clients run more than one step.
  plan = wl.schedule('whole')
  counts = wl.client_sizes('whole', CLIENTS)
  assert sorted(set(counts)) == sorted(wl.WHOLE_SIZES)
  assert all(plan.batch % n == 0 for n in counts) and plan.steps is None
  assert wl.client_steps(counts, plan).max() > 1


@pytest.mark.parametrize('workload,system', [('mlp', 'fedjax_sim:sequential@2'),
                                             ('logistic', 'fedjax_sim:auto')])
def test_fedjax_and_fedjax_sim_agree_after_one_fedavg_round(tmp_path, workload, system):
  require_fedjax()
  outputs = {name: str(tmp_path / f'{name}.npz') for name in ('fedjax', 'fedjax_sim')}
  procs = {}
  for name, worker in (('fedjax', 'fedjax'), ('fedjax_sim', system)):
    command = launch.worker_command(worker, workload, CLIENTS, 1, sizes='whole')
    procs[name] = subprocess.Popen(command + [f'--dump_params={outputs[name]}'],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=tmp_path)
  for name, proc in procs.items():  # both run at once
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f'{name} worker failed:\n{err[-3000:]}'
  init = wl.initial_params(workload)
  fedjax, sim = (dict(np.load(outputs[name])) for name in ('fedjax', 'fedjax_sim'))
  assert set(fedjax) == set(sim) == set(init)
  moved = {}
  for key, start in init.items():
    assert fedjax[key].shape == sim[key].shape == start.shape, key
    assert fedjax[key].dtype == sim[key].dtype == np.float32, key
    moved[key] = float(np.max(np.abs(sim[key] - start)))
  # The round moved every tensor far more than the tolerance, so agreeing
  # to it is not agreeing on doing nothing.
  assert min(moved.values()) > 50 * TOLERANCE, moved
  for key in init:
    np.testing.assert_allclose(fedjax[key], sim[key], rtol=0, atol=TOLERANCE,
                               err_msg=f'{workload}: {key} differs (FedJAX vs {system})')
