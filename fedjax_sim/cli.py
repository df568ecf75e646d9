"""absl entry points whose bad input is one line, `error: ...`, and exit 2."""

from __future__ import annotations

import sys
from typing import Callable

from absl import app, flags

from fedjax_sim.errors import ConfigError

Main = Callable[[list[str]], None]


def to_stderr(line: str) -> None:
  """Prints a warning line to standard error (the library's default `warn`)."""
  print(line, file=sys.stderr)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a bad flag is one line `error: ...` and exit 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


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
