"""The peers' virtual environments, for the tests that run a peer: each is
built by `bash benchmarks/peers/setup_venv.sh <peer>` (`.ci/setup` builds
FedJAX's, pfl's and Flower's). A test without its peer's venv skips, except
where FEDJAX_SIM_REQUIRE_PEERS is set (`.ci/run`, after `.ci/setup`): then it
fails."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks', 'peers'))

import launch  # noqa: E402
from conftest import FUSION_EMITTERS_OFF  # noqa: E402

REQUIRE_PEERS = 'FEDJAX_SIM_REQUIRE_PEERS'


def peer_python(peer: str) -> str:
  return os.path.join(launch.DEFAULT_VENVS, peer, 'bin', 'python')


def require_peer(peer: str) -> None:
  """Skips without `peer`'s venv, or fails where REQUIRE_PEERS is set."""
  if os.path.exists(peer_python(peer)):
    return
  missing = (f"{peer}'s venv {peer_python(peer)} is missing; create it with "
             f'`bash benchmarks/peers/setup_venv.sh {peer}`')
  if os.environ.get(REQUIRE_PEERS, '') not in ('', '0'):
    pytest.fail(f'{missing}; {REQUIRE_PEERS} is set, so this test must run')
  pytest.skip(missing)


def peer_env() -> dict[str, str]:
  """The session's environment for a run that starts FedJAX's worker, whose
  jaxlib (0.4.30) aborts on the session's flag it does not know."""
  flags = os.environ.get('XLA_FLAGS', '').replace(FUSION_EMITTERS_OFF, '')
  return {**os.environ, 'XLA_FLAGS': ' '.join(flags.split())}
