"""absl entry points whose bad input is one line, `error: ...`, and exit 2."""

from __future__ import annotations

import math
import sys
from typing import Callable

from absl import app, flags

from fedjax_sim.errors import ConfigError

Main = Callable[[list[str]], None]
HELP = ('-h', '-?', '--help', '--helpshort', '--helpfull')


def to_stderr(line: str) -> None:
  """Prints a warning line to standard error (the library's default `warn`)."""
  print(line, file=sys.stderr)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; `--help` prints the script's usage and exits 0, a bad
  flag is one line `error: ...` and exit 2."""
  if any(a in HELP for a in argv[1:]):
    app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def require_finite(*names: str) -> None:
  """Refuses NaN and infinity for those float flags (absl's bounds let NaN
  through), at parse time."""
  for name in names:
    flags.register_validator(name, lambda v: v is None or math.isfinite(v),
                             message='must be a finite number')


def one_line_errors(main: Main) -> Main:
  """`main`, a ConfigError (bad flag values, bad input) as one line and exit
  2, Ctrl-C as one line and exit 130 (these scripts write their output only
  at the end, so an interrupted run leaves nothing half-written)."""

  def run_main(argv: list[str]) -> None:
    try:
      main(argv)
    except ConfigError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(2)
    except KeyboardInterrupt:
      print('interrupted; nothing was written', file=sys.stderr)
      sys.exit(130)

  return run_main


def run(main: Main) -> None:
  """`app.run(main)` with one-line errors for bad flags and bad input."""
  app.run(one_line_errors(main), flags_parser=parse_flags)
