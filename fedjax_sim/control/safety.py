"""What the control room accepts from the network: names, paths, tokens and
upload sizes. Every check raises `Refused` with one line for the page."""

from __future__ import annotations

import hmac
import os
import re
import secrets

NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,63}')
LOCAL_HOSTS = ('127.0.0.1', 'localhost', '::1')
MIN_TOKEN = 16  # characters of a --token that serves beyond this machine
TOKEN_FILE = '.control.token'  # in the runs directory, mode 0600


class Refused(ValueError):
  """A request the control room will not carry out (HTTP 4xx); `status` is
  the HTTP code and the message names the field and what was expected."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


def check_name(field: str, value: str) -> str:
  """`value` if it is a plain name: letters, digits, '.', '_', '-', at most
  64 characters, not starting with '.', '_' or '-' (so never '..')."""
  if not isinstance(value, str) or not NAME.fullmatch(value):
    raise Refused(f'{field}={value!r}: expected 1-64 letters, digits, ".", "_" or "-", '
                  'starting with a letter or digit')
  return value


def inside(root: str, name: str, field: str) -> str:
  """The path of `name` directly under `root`, after checking that it is a
  plain name and that it resolves (symbolic links followed) inside `root`."""
  path = os.path.join(root, check_name(field, name))
  real_root = os.path.realpath(root)
  if os.path.dirname(os.path.realpath(path)) != real_root:
    raise Refused(f'{field}={name!r} resolves outside the runs directory')
  return path


def check_bind(host: str, token: str | None) -> None:
  """Listening beyond this machine needs a token of at least MIN_TOKEN
  characters: anyone who can reach the port can start processes and read
  the runs, and a short token is guessed."""
  if host in LOCAL_HOSTS:
    return
  if not token:
    raise Refused(f'--host={host} listens beyond this machine; set --token (or '
                  'FEDJAX_SIM_TOKEN) so that only holders of the token can use it')
  if len(token) < MIN_TOKEN:
    raise Refused(f'--token has {len(token)} characters; --host={host} listens beyond '
                  f'this machine, so it needs at least {MIN_TOKEN} (e.g. python -c '
                  '"import secrets; print(secrets.token_urlsafe(16))")')


def stored_token(runs_dir: str) -> str:
  """The runs directory's own token, kept in TOKEN_FILE (mode 0600) so that
  open pages and bookmarks keep working after a restart; made on first use
  (two servers starting at once agree on one), and made anew if the file
  holds fewer than MIN_TOKEN characters."""
  path = os.path.join(runs_dir, TOKEN_FILE)
  try:
    with open(path) as f:
      token = f.read().strip()
    if len(token) >= MIN_TOKEN:
      os.chmod(path, 0o600)  # others could read a file copied in by hand
      return token
    exists = True
  except FileNotFoundError:
    exists = False
  token = secrets.token_urlsafe(16)
  fd, incoming = _private_temp(runs_dir)
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(token + '\n')
    if exists:
      os.replace(incoming, path)
      return token
    try:
      os.link(incoming, path)  # fails if another server made one meanwhile
    except FileExistsError:
      return stored_token(runs_dir)
    return token
  finally:
    if os.path.exists(incoming):
      os.unlink(incoming)


def _private_temp(directory: str) -> tuple[int, str]:
  """A new file in `directory` only its owner can read: (descriptor, path)."""
  path = os.path.join(directory, f'{TOKEN_FILE}.{secrets.token_hex(4)}.tmp')
  return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), path


def token_ok(expected: str | None, given: str | None) -> bool:
  """Whether `given` matches `expected` (always, when no token is set);
  compared in constant time."""
  if not expected:
    return True
  return given is not None and hmac.compare_digest(expected.encode(), given.encode())
