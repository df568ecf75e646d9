"""FedJAX and fedjax_sim, and pfl and fedjax_sim, compute the same FedAvg
round (parameter values, not counts): the benchmark workers of both systems,
run with `--dump_params`, start from the same parameters
(`workloads.initial_params`), train every client of the `whole` workload
(client sizes dividing the batch, so each system's own shuffling of the
examples cannot change the round) and must end with the same server
parameters.

pfl (Apple's pfl-research 0.6.0, PyTorch) batches each local epoch apart and
never shuffles a user's `Dataset`; its worker gives each user its shuffled
passes concatenated and runs one pfl epoch of them (`pfl_worker.py`), which
is the schedule of FedJAX and fedjax_sim (`workloads.schedule`: batches run
across pass boundaries, one short batch at the end), so nothing is left
unmatched: pfl's weight per client, `len(dataset)`, is `WHOLE_EPOCHS` times
its example count, the same factor for every client, so its weighted
average is FedAvg's.

Needs FedJAX 0.0.17 and pfl 0.6.0 in their own environments,
`benchmarks/.venvs/fedjax` and `benchmarks/.venvs/pfl`
(`bash benchmarks/peers/setup_venv.sh fedjax|pfl`, which `.ci/setup` runs).
Each test is skipped without its environment, except where
FEDJAX_SIM_REQUIRE_PEERS is set (`.ci/run` sets it after `.ci/setup` built
the environments): then a missing environment fails.
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
from peer_venvs import peer_env, require_peer  # noqa: E402

TOLERANCE = 1e-5
CLIENTS = 2 * len(wl.WHOLE_SIZES)  # each size twice

def test_whole_workload_does_not_depend_on_example_order():
  # Every batch holds whole passes over its client's data, in both systems:
  # each size divides the batch, and clients run more than one step.
  plan = wl.schedule('whole')
  counts = wl.client_sizes('whole', CLIENTS)
  assert sorted(set(counts)) == sorted(wl.WHOLE_SIZES)
  assert all(plan.batch % n == 0 for n in counts) and plan.steps is None
  assert wl.client_steps(counts, plan).max() > 1


def dump_and_compare(tmp_path, peer: str, workload: str, system: str) -> None:
  """Runs `peer`'s and `system`'s workers for one round from the same
  parameters (at once) and checks the server parameters agree."""
  outputs = {name: str(tmp_path / f'{name}.npz') for name in (peer, 'fedjax_sim')}
  procs = {}
  for name, worker in ((peer, peer), ('fedjax_sim', system)):
    command = launch.worker_command(worker, workload, CLIENTS, 1, sizes='whole')
    procs[name] = subprocess.Popen(command + [f'--dump_params={outputs[name]}'],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=tmp_path, env=peer_env())
  for name, proc in procs.items():  # both run at once
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f'{name} worker failed:\n{err[-3000:]}'
  init = wl.initial_params(workload)
  theirs, sim = (dict(np.load(outputs[name])) for name in (peer, 'fedjax_sim'))
  assert set(theirs) == set(sim) == set(init)
  moved = {}
  for key, start in init.items():
    assert theirs[key].shape == sim[key].shape == start.shape, key
    assert theirs[key].dtype == sim[key].dtype == np.float32, key
    moved[key] = float(np.max(np.abs(sim[key] - start)))
  # The round moved every tensor far more than the tolerance, so agreeing
  # to it is not agreeing on doing nothing.
  assert min(moved.values()) > 50 * TOLERANCE, moved
  for key in init:
    np.testing.assert_allclose(theirs[key], sim[key], rtol=0, atol=TOLERANCE,
                               err_msg=f'{workload}: {key} differs ({peer} vs {system})')


@pytest.mark.parametrize('workload,system', [('mlp', 'fedjax_sim:sequential@2'),
                                             ('logistic', 'fedjax_sim:auto')])
def test_fedjax_and_fedjax_sim_agree_after_one_fedavg_round(tmp_path, workload, system):
  require_peer('fedjax')
  dump_and_compare(tmp_path, 'fedjax', workload, system)


@pytest.mark.parametrize('workload,system', [('mlp', 'fedjax_sim:auto'),
                                             ('logistic', 'fedjax_sim:sequential@2')])
def test_pfl_and_fedjax_sim_agree_after_one_fedavg_round(tmp_path, workload, system):
  require_peer('pfl')
  dump_and_compare(tmp_path, 'pfl', workload, system)
