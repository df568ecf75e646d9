"""The control room: start, watch, stop, resume and compare runs in a browser.

`python scripts/dashboard.py --workdir=/tmp/runs` then open the printed URL.
Runs started from the page are child processes writing `/tmp/runs/<name>`;
runs written there by `scripts/train.py` are shown too. Binds 127.0.0.1;
any other --host needs --token (or FEDJAX_SIM_TOKEN) of at least 16
characters. Without one, the runs directory's own token is used (made once,
kept in `<workdir>/.control.token`, mode 0600, so pages and bookmarks survive
a restart): the printed URL carries it, and requests without it are refused,
so other local users and web pages cannot drive the server.
"""

import os
import socket
import sys
import urllib.parse

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import uvicorn  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from fedjax_sim import cli  # noqa: E402
from fedjax_sim.control import Settings, create_app  # noqa: E402
from fedjax_sim.control.safety import Refused, check_bind, stored_token  # noqa: E402

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory of the runs (one subdirectory per run); created if missing.')
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on.')
_PORT = flags.DEFINE_integer('port', 8765, 'Port to listen on (0: any free port).',
                             lower_bound=0, upper_bound=65535)
_TOKEN = flags.DEFINE_string('token', os.environ.get('FEDJAX_SIM_TOKEN'),
                             'Token the page and API need (?token= in the URL); '
                             'required (16 characters or more) with a --host other than 127.0.0.1; '
                             'default: the one kept in <workdir>/.control.token.')
_MAX_UPLOAD_MB = flags.DEFINE_integer('max_upload_mb', 20, 'Largest CSV upload, in MiB.',
                                      lower_bound=1)


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    fail(f'unexpected arguments {argv[1:]} (flags are --name=value)')
  if not _WORKDIR.value:
    fail('--workdir is required: the directory of the runs')
  try:
    check_bind(_HOST.value, _TOKEN.value)
  except Refused as e:
    fail(str(e))
  workdir_error = lambda e: fail(  # noqa: E731
      f'--workdir={_WORKDIR.value} cannot hold the runs: {e.strerror}; expected a writable directory')
  try:
    os.makedirs(_WORKDIR.value, exist_ok=True)
  except OSError as e:
    workdir_error(e)
  try:
    family = socket.AF_INET6 if ':' in _HOST.value else socket.AF_INET
    sock = socket.create_server((_HOST.value, _PORT.value), family=family)
  except OSError as e:
    fail(f'--host={_HOST.value} --port={_PORT.value}: {e.strerror or e}')
  try:
    token = _TOKEN.value or stored_token(_WORKDIR.value)
  except OSError as e:
    workdir_error(e)
  settings = Settings(os.path.abspath(_WORKDIR.value), os.path.join(_ROOT, 'configs'),
                      os.path.join(_ROOT, 'scripts', 'train.py'), token,
                      _MAX_UPLOAD_MB.value << 20)
  try:
    control_room = create_app(settings)
  except Refused as e:
    fail(str(e))
  except OSError as e:
    workdir_error(e)
  host, port = sock.getsockname()[:2]
  host = f'[{host}]' if ':' in host else host
  query = urllib.parse.urlencode({'token': token})
  print(f'Control room of {_WORKDIR.value} at http://{host}:{port}/?{query} (Ctrl-C to stop)',
        flush=True)
  # Open event streams are closed after 5 s, then running children are stopped.
  server = uvicorn.Server(uvicorn.Config(control_room, log_level='warning',
                                         timeout_graceful_shutdown=5))
  server.run(sockets=[sock])


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
