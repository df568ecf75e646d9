"""The helper scripts' flags (issue 28): `--help` prints the script's usage
and exits 0; an unknown flag or a bad flag value is one line `error: ...` on
stderr and exit 2, before any work starts. One subprocess per case."""

import ast
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ('predict', 'report', 'compare_algorithms', 'hypergrad', 'dashboard')

# (script, flags, the one stderr line)
BAD_FLAGS = (
    ('predict', ('--nope',), r"error: Unknown command line flag 'nope'"),
    ('report', ('--nope',), r"error: Unknown command line flag 'nope'"),
    ('predict', ('--workdir={tmp}', '--export=/nonexistent/m.msgpack'),
     r"error: --export '/nonexistent/m\.msgpack': directory '/nonexistent' does not exist"),
    ('hypergrad', ('--meta_lr=nan',), r'error: flag --meta_lr=nan: must be a finite number'),
    ('hypergrad', ('--seed=-1',),
     r'error: flag --seed=-1: -1 is not an integer in the range \[0, 4294967295\]'),
)


def run_script(name: str, *flags: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', f'{name}.py'), *flags],
                        capture_output=True, text=True, timeout=300, cwd=ROOT)


def first_doc_line(name: str) -> str:
  with open(os.path.join(ROOT, 'scripts', f'{name}.py')) as f:
    return ast.get_docstring(ast.parse(f.read())).splitlines()[0]


@pytest.mark.parametrize('name', SCRIPTS)
def test_help_prints_usage_and_exits_0(name):
  proc = run_script(name, '--help')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.splitlines()[0] == first_doc_line(name)
  assert proc.stderr == ''


@pytest.mark.parametrize('name,flags,line', BAD_FLAGS,
                         ids=[f'{n} {" ".join(f)}' for n, f, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_and_exit_2(tmp_path, name, flags, line):
  proc = run_script(name, *(f.format(tmp=tmp_path) for f in flags))
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert re.fullmatch(line, proc.stderr.strip()), proc.stderr[-2000:]
  assert proc.stdout == ''
