"""`fedjax_sim.cli`: bad input and Ctrl-C are one line each, exits 2 and 130."""

import pytest

from fedjax_sim import cli
from fedjax_sim.errors import ConfigError


def raising(error):
  def main(argv):
    del argv
    raise error
  return main


@pytest.mark.parametrize('error,code,line', [
    (ConfigError('held_out must be below num_clients=20, got 30'), 2,
     'error: held_out must be below num_clients=20, got 30'),
    (KeyboardInterrupt(), 130, 'interrupted; nothing was written')])
def test_errors_are_one_line_and_an_exit_code(error, code, line, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.one_line_errors(raising(error))(['prog'])
  assert exit_info.value.code == code
  assert capsys.readouterr().err.splitlines() == [line]


def test_other_errors_are_not_hidden():
  with pytest.raises(ZeroDivisionError):
    cli.one_line_errors(raising(ZeroDivisionError()))(['prog'])
