"""The one place where a failed write of a run file (checkpoint, metrics,
config, TensorBoard, report) becomes one line naming the path and what to do
(`RunFileError`, exit 2), instead of a traceback from orbax or the OS.

Orbax raises `OSError` for its directories; tensorstore, writing the arrays,
raises `ValueError` with the OS error code in its text (`[os_error_code='28']`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
from typing import Any, Callable, Iterator, TypeVar

from fedjax_sim.errors import RunFileError

_CODE = re.compile(r"os_error_code='(\d+)'")
_PATH = re.compile(r'(?:Failed writing|local file): "([^"]+)"')
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DENIED = (errno.EROFS, errno.EACCES, errno.EPERM)
F = TypeVar('F', bound=Callable[..., Any])


def os_failure(error: BaseException) -> tuple[int, str | None] | None:
  """`(errno, path)` of an error that an OS call failed with (path None when
  the error does not name one), or None for any other error."""
  if isinstance(error, OSError) and error.errno:
    return error.errno, error.filename
  match = _CODE.search(str(error)) if isinstance(error, ValueError) else None
  if match is None:
    return None
  path = _PATH.search(str(error))
  return int(match.group(1)), path.group(1) if path else None


def advice(code: int) -> str:
  """What to do about a write that failed with OS error `code`."""
  if code in _FULL:
    return 'the disk is full: free some space, then continue the run with --resume'
  if code in _DENIED:
    return ('make it writable (or copy the run to a writable --workdir), '
            'then continue the run with --resume')
  return 'check the disk, then continue the run with --resume'


def message(code: int, path: str) -> str:
  """The one line for a write of `path` that failed with OS error `code`."""
  return f'cannot write {path}: {os.strerror(code)}; {advice(code)}'


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
  """Turns an OS failure inside the block into a `RunFileError` naming the
  file it names (else `path`, the run file or directory being written)."""
  try:
    yield
  except (OSError, ValueError) as e:
    failure = os_failure(e)
    if failure is None:
      raise
    code, named = failure
    raise RunFileError(message(code, named or path)) from None


def writes_in(attribute: str) -> Callable[[F], F]:
  """A method decorator: `writing(getattr(self, attribute))` around the method."""
  def decorate(method: F) -> F:
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
      with writing(getattr(self, attribute)):
        return method(self, *args, **kwargs)
    return wrapped  # type: ignore[return-value]
  return decorate
