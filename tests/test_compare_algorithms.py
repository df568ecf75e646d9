"""scripts/compare_algorithms.py from the command line, in a copy of the repository
layout (the script, with links to fedjax_sim/ and configs/, and a copy of docs/)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = re.compile(r'^\| (\w+) \| (digits|synthetic) \| 1 \| \d\.\d{4} \| [\d.]+ \| \d\.\d{4} \| [\d.]+ \|$')
HEADER = '| config | data | rounds | test_accuracy | test_loss | client_train_accuracy | seconds |'


@pytest.fixture
def tree(tmp_path):
  """A repository copy whose docs/ the script would write by default."""
  os.makedirs(tmp_path / 'scripts')
  shutil.copy(os.path.join(ROOT, 'scripts', 'compare_algorithms.py'), tmp_path / 'scripts')
  for name in ('fedjax_sim', 'configs'):
    os.symlink(os.path.join(ROOT, name), tmp_path / name)
  shutil.copytree(os.path.join(ROOT, 'docs'), tmp_path / 'docs')
  return tmp_path


def run(tree, *flags):
  return subprocess.run(
      [sys.executable, str(tree / 'scripts' / 'compare_algorithms.py'), *flags],
      capture_output=True, text=True, cwd=tree, timeout=300)


def snapshot(folder):
  return {os.path.join(d, f): open(os.path.join(d, f), 'rb').read()
          for d, _, files in os.walk(folder) for f in files}


def rows(stdout):
  lines = stdout.strip().splitlines()
  assert lines[0] == HEADER, stdout
  return [ROW.match(line).groups() for line in lines[2:]]


def test_failed_config_keeps_other_results_and_skips_other_arguments(tree):
  # A config whose run is invalid (more clients per round than clients).
  (tree / 'broken.py').write_text(
      'from configs import default\n\n'
      'def get_config(data):\n'
      '  config = default.get_config(data)\n'
      '  config.clients_per_round = 999\n'
      '  return config\n')
  result = run(tree, '--configs=broken.py,tfds_mnist,fedavgm,reddi_cifar100',
               '--data=digits', '--rounds=1', '--out=table.md')
  assert result.returncode == 1, result.stderr
  assert rows(result.stdout) == [('fedavgm', 'digits')]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert errors == ['error: broken:digits: clients_per_round=999 exceeds data.num_clients=20']
  skipped = [line for line in result.stderr.splitlines() if line.startswith('skipped')]
  assert skipped == ["skipped configs that do not take the data argument: "
                     "tfds_mnist (TypeError: too many positional arguments); "
                     "reddi_cifar100 (its argument is not the data set: "
                     "data.name='cifar100')"]
  assert 'not written: table.md (1 failed)' in result.stderr.splitlines()
  assert not os.path.exists(tree / 'table.md')  # no table with a row missing
  assert 'Traceback' not in result.stderr


def test_only_configs_without_the_data_argument_is_an_error(tree):
  result = run(tree, '--configs=synthetic,reddi_shakespeare', '--data=synthetic')
  assert result.returncode == 2
  assert result.stdout == ''
  assert result.stderr.splitlines() == [
      "skipped configs that do not take the data argument: synthetic (ValueError: "
      "could not convert string to float: 'synthetic'); reddi_shakespeare (its "
      "argument is not the data set: data.name='shakespeare')",
      'error: no selected config takes the data argument']


def test_docs_are_written_only_with_out(tree):
  docs = snapshot(tree / 'docs')
  result = run(tree, '--configs=fedprox', '--data=synthetic', '--rounds=1')
  assert result.returncode == 0, result.stderr
  assert rows(result.stdout) == [('fedprox', 'synthetic')]
  assert snapshot(tree / 'docs') == docs

  out = tree / 'docs' / 'algorithms.md'
  result = run(tree, '--configs=fedprox', '--data=synthetic', '--rounds=1',
               f'--out={out}')
  assert result.returncode == 0, result.stderr
  text = out.read_text()
  head, rest = docs[str(out)].decode().split('<!-- table:begin -->')
  tail = rest.split('<!-- table:end -->')[1]
  assert text.startswith(head + '<!-- table:begin -->\nProduced by `python '
                         'scripts/compare_algorithms.py --configs=fedprox')
  assert text.endswith(result.stdout.strip() + '\n<!-- table:end -->' + tail)
  assert '| fedprox | synthetic | 1 |' in text and '| default | digits | 60 |' not in text


@pytest.mark.parametrize('flags, message', [
    (['--rounds=0'], 'error: flag --rounds=0: 0 is not a positive integer'),
    (['--configs=nope'], 'error: --configs: no config file'),
    (['--out=README'], 'error: --out=README lacks the markers'),
    (['extra'], "error: unexpected arguments: ['extra']"),
])
def test_bad_flags_are_one_line_with_exit_code_2(tree, flags, message):
  (tree / 'README').write_text('no markers\n')
  result = run(tree, *flags)
  assert result.returncode == 2
  assert result.stderr.startswith(message) and result.stderr.count('\n') == 1, result.stderr
  assert result.stdout == ''
