"""Live dashboard of the runs under a directory.

`python scripts/dashboard.py --workdir=/tmp/runs` then open http://127.0.0.1:8765.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from fedjax_sim.dashboard import make_server  # noqa: E402

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'A run directory, or a directory whose subdirectories are runs.')
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on.')
_PORT = flags.DEFINE_integer('port', 8765, 'Port to listen on (0: any free port).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _WORKDIR.value or not os.path.isdir(_WORKDIR.value):
    print(f'error: --workdir must be an existing directory, got {_WORKDIR.value!r}',
          file=sys.stderr)
    sys.exit(2)
  try:
    server = make_server(_WORKDIR.value, _HOST.value, _PORT.value)
  except OSError as e:
    print(f'error: cannot listen on --host={_HOST.value} --port={_PORT.value}: {e}',
          file=sys.stderr)
    sys.exit(2)
  host, port = server.server_address[:2]
  print(f'Dashboard of {_WORKDIR.value} at http://{host}:{port}/ (Ctrl-C to stop)',
        flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()


if __name__ == '__main__':
  app.run(main)
