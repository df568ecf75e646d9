"""Shared fixtures: a tiny ragged federated data set, a tiny MLP, and a client
of the control room's app."""

import atexit
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One persistent XLA compilation cache for the whole session: the test
# workers and the scripts they run in subprocesses compile many of the same
# round programs (the default experiment's above all). Set before JAX is
# imported; the process that made it removes it at exit.
# Every program is cached, not only those compiling for over a second: most
# compile faster than that here (below), and the scripts' subprocesses
# compile the same ones again (17% off the script tests, measured).
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='fedjax_sim_tests_xla_')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')

# The suite is bound by XLA compile time (hundreds of small round programs,
# each compiled once), so the tests and the scripts they start compile
# faster than users' runs:
# - LLVM's backend optimizations are off (`xla_backend_optimization_level=0`);
# - fusions are emitted by XLA:CPU's elemental emitters instead of its MLIR
#   fusion emitters: 4 runs of the pairwise matrix take 25 s instead of 34,
#   the suite 29 minutes instead of 33-35 (benchmarks/RESULTS.md, "Suite
#   time").
# XLA's HLO passes (fusion, layout, simplification) still run, so every
# program keeps its HLO; only its machine code is slower, which none of these
# tiny runs notices. Tests that set XLA_FLAGS for a subprocess append to this
# value (`xla_flags`). XLA aborts on a flag it does not know: the second
# one is in jaxlib 0.5.3 and later (not in 0.5.0, nor in FedJAX's 0.4.30,
# `peer_venvs.peer_env`).
FUSION_EMITTERS_OFF = '--xla_cpu_use_fusion_emitters=false'


def _jaxlib_knows_fusion_emitters() -> bool:
  """Whether the installed jaxlib has FUSION_EMITTERS_OFF's flag."""
  version = re.match(r'(\d+)\.(\d+)\.(\d+)', importlib.metadata.version('jaxlib'))
  return tuple(map(int, version.groups())) >= (0, 5, 3)


for _flag in ('--xla_backend_optimization_level=0',) + (
    (FUSION_EMITTERS_OFF,) if _jaxlib_knows_fusion_emitters() else ()):
  if _flag.split('=')[0] not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()


def xla_flags(flags: str) -> str:
  """The session's XLA_FLAGS with `flags` added, for a subprocess's env."""
  return f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


from fedjax_sim.data.federated_data import FederatedData, from_client_arrays  # noqa: E402
from fedjax_sim.models import get_model  # noqa: E402

RAGGED_COUNTS = (1, 7, 0, 23, 5, 12)


@pytest.fixture
def ragged_data() -> FederatedData:
  """Six clients with 1, 7, 0, 23, 5 and 12 examples of 6 features, 4 classes."""
  rng = np.random.default_rng(0)
  clients = [{'x': rng.normal(size=(n, 6)).astype(np.float32),
              'y': rng.integers(0, 4, n).astype(np.int32)} for n in RAGGED_COUNTS]
  return from_client_arrays(clients, 'ragged')


@pytest.fixture
def tiny_mlp():
  return get_model('mlp', 4, {'hidden': (8,)})


@pytest.fixture
def client(tmp_path):
  """A TestClient of the control room over `tmp_path`, with the fake training
  script (`control_room_helpers.settings`); imported here lazily, so that
  only the control room's tests load FastAPI."""
  from fastapi.testclient import TestClient

  from control_room_helpers import settings
  from fedjax_sim.control import create_app
  with TestClient(create_app(settings(tmp_path))) as c:
    yield c
