"""Train every algorithm config on digits and Synthetic(1,1); write the table.

  python scripts/compare_algorithms.py                 # all configs, both data sets
  python scripts/compare_algorithms.py --configs=fedprox,scaffold --data=digits

Rewrites the table between the markers in docs/algorithms.md (atomically) and
prints it.
"""

import glob
import importlib
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from fedjax_sim.train import train  # noqa: E402

_CONFIGS = flags.DEFINE_list('configs', [], 'Config names in configs/ (default: all).')
_DATA = flags.DEFINE_list('data', ['digits', 'synthetic'], 'Config arguments to run.')
_OUT = flags.DEFINE_string('out', os.path.join(_ROOT, 'docs', 'algorithms.md'),
                           'Markdown file whose table is replaced ("" to only print).')

BEGIN, END = '<!-- table:begin -->', '<!-- table:end -->'
NOT_ALGORITHMS = ('__init__', 'synthetic')


def config_names() -> list[str]:
  """Every config file that takes the data argument, default first."""
  names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(_ROOT, 'configs', '*.py')))
  names = [n for n in names if n not in NOT_ALGORITHMS]
  return ['default'] + [n for n in names if n != 'default']


def run_one(name: str, data: str) -> dict:
  """Trains `configs/<name>.py:<data>`; returns its final evaluation and time."""
  config = importlib.import_module(f'configs.{name}').get_config(data)
  start = time.perf_counter()
  history = train(config, log=lambda line: None)
  seconds = time.perf_counter() - start
  return {'config': name, 'data': data, 'rounds': config.rounds, 'seconds': seconds,
          **history[-1]}


def table(rows: list[dict]) -> str:
  lines = ['| config | data | rounds | test accuracy | test loss | client accuracy | seconds |',
           '|---|---|---:|---:|---:|---:|---:|']
  lines += [f"| {r['config']} | {r['data']} | {r['rounds']} | {r['accuracy']:.4f} | "
            f"{r['loss']:.4f} | {r['client_accuracy']:.4f} | {r['seconds']:.1f} |"
            for r in rows]
  return '\n'.join(lines)


def replace_table(path: str, text: str, command: str) -> None:
  """Writes `text` between the markers of `path`, via a temporary file."""
  with open(path) as f:
    doc = f.read()
  if BEGIN not in doc or END not in doc:
    raise SystemExit(f'error: {path} lacks the markers {BEGIN} ... {END}')
  head, rest = doc.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  stamp = (f'Produced by `{command}` on {time.strftime("%Y-%m-%d")}, '
           f'jax {jax.__version__}, {os.cpu_count()} CPU cores.')
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(f'{head}{BEGIN}\n{stamp}\n\n{text}\n{END}{tail}')
  os.replace(tmp, path)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  names = _CONFIGS.value or config_names()
  known = config_names()
  for name in names:
    if name not in known:
      raise app.UsageError(f'--configs: unknown config {name!r}; known: {known}')
  rows = []
  for name in names:
    for data in _DATA.value:
      rows.append(run_one(name, data))
      print(table(rows[-1:]).splitlines()[-1], flush=True)
  text = table(rows)
  print(text)
  if _OUT.value:
    command = 'python scripts/compare_algorithms.py ' + ' '.join(sys.argv[1:])
    replace_table(_OUT.value, text, command.strip())


if __name__ == '__main__':
  app.run(main)
