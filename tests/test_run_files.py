"""Run files edited by hand: `--resume` names the file and what is wrong,
exit 2, no traceback (issue 28, item 4)."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ('--config.rounds=2', '--config.eval_every=1', '--config.clients_per_round=4',
        '--config.model.name=logistic', '--config.model.options={}',
        '--config.checkpoint.every=1')


def train(workdir: str, *flags: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), *TINY,
                         f'--workdir={workdir}', *flags],
                        capture_output=True, text=True, cwd='/', timeout=300)


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory) -> str:
  workdir = str(tmp_path_factory.mktemp('runs') / 'base')
  result = train(workdir)
  assert result.returncode == 0, result.stderr
  return workdir


def drop_round(workdir: str) -> None:
  path = os.path.join(workdir, 'metrics.jsonl')
  rows = [json.loads(line) for line in open(path)]
  del rows[0]['round']
  with open(path, 'w') as f:
    f.write(''.join(json.dumps(row) + '\n' for row in rows))


def edit_config(change):
  def edit(workdir: str) -> None:
    path = os.path.join(workdir, 'config.json')
    with open(path) as f:
      config = json.load(f)
    with open(path, 'w') as f:
      json.dump(change(config), f)
  return edit


def rounds_as_string(config: dict) -> dict:
  return {**config, 'rounds': '2'}


@pytest.mark.parametrize('edit, message', [
    (drop_round, r"metrics\.jsonl, line 1: the row has no 'round' \(expected an integer\)"),
    (edit_config(rounds_as_string),
     r"config\.json: rounds is '2' \(a string\), expected an integer like 3"),
    (edit_config(lambda config: [1, 2]),
     r"config\.json: holds a list, expected an object \(the run's config\)"),
])
def test_a_hand_edited_run_file_is_one_line_naming_it(finished_run, tmp_path, edit, message):
  workdir = str(tmp_path / 'run')
  shutil.copytree(finished_run, workdir)
  edit(workdir)
  result = train(workdir, '--resume', '--config.rounds=3')
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: --workdir '{workdir}': {workdir}/"), \
      result.stderr
  assert re.search(message, lines[0]), lines[0]
