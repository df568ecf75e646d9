"""scripts/train.py from the command line: output lines. (Its errors: tests/test_probes.py.)"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*flags, cwd='/'):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), *flags],
                        capture_output=True, text=True, cwd=cwd, timeout=300)


def test_train_prints_one_line_per_eval():
  result = run('--config.rounds=4', '--config.eval_every=2')
  assert result.returncode == 0, result.stderr
  engine, *lines = result.stdout.strip().splitlines()
  # The default engine.strategy 'auto' says once what it chose: on this CPU,
  # one device per core (scripts/train.py splits the host).
  cores = len(os.sched_getaffinity(0))
  assert engine == f'engine: auto layout sequential on {cores} cpu device(s), 10 clients per round'
  assert all(len(line) <= 100 for line in lines), lines
  heads = [line for line in lines if re.match(r'round +\d+ ', line)]
  pattern = (r'round\s+(\d+)  test_accuracy (\d\.\d+)  test_loss (\d+\.\d+)  '
             r'train_loss \d+\.\d+  rounds/s \d+\.\d$')
  rounds = [int(re.match(pattern, line).group(1)) for line in heads]
  assert rounds == [2, 4]
  # The other metrics, under the first; names as in metrics.jsonl.
  rest = ' '.join(line for line in lines if line.startswith(' ' * 11 + 'client'))
  names = re.findall(r'(\w+) [\d.e-]+', rest)
  assert names == 2 * ['client_train_loss', 'client_train_accuracy', 'client_train_accuracy_std',
                       'client_train_accuracy_worst10'], lines


def test_config_file_and_overrides():
  result = run('--config=configs/synthetic.py', '--config.rounds=2',
               '--config.eval_every=1', '--config.engine.strategy=sequential', cwd=ROOT)
  assert result.returncode == 0, result.stderr
  heads = [line for line in result.stdout.splitlines() if re.match(r'round +\d+ ', line)]
  assert [int(line.split()[1]) for line in heads] == [1, 2]
