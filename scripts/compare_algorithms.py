"""Train every algorithm config on digits and Synthetic(1,1); print the table.

  python scripts/compare_algorithms.py                 # all configs, both data sets
  python scripts/compare_algorithms.py --configs=fedprox,scaffold --data=digits
  python scripts/compare_algorithms.py --out=docs/algorithms.md   # also write docs

Runs only the configs whose `get_config(data)` builds a config on that data set
(the Reddi and TFDS configs take a path or nothing, and are skipped, said in
one line). A run that fails is reported in one line and the others go on; the
table of the finished runs is printed, and the exit status is 1. With `--out`
(and no failed run) the table replaces the one between the markers of that
Markdown file (atomically), or makes a new file. Bad flags: one line, exit 2.
"""

import glob
import importlib.util
import inspect
import os
import sys
import time
from collections.abc import Callable

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import jax  # noqa: E402
import ml_collections  # noqa: E402
from absl import flags, logging  # noqa: E402

from fedjax_sim import cli  # noqa: E402
from fedjax_sim.errors import ConfigError, DataError  # noqa: E402
from fedjax_sim.config.train import train  # noqa: E402

_CONFIGS = flags.DEFINE_list(
    'configs', [], 'Config names in configs/ or paths of config files (default: all).')
_DATA = flags.DEFINE_list('data', ['digits', 'synthetic'], 'Config arguments to run.')
_ROUNDS = flags.DEFINE_integer('rounds', None, 'Override every config\'s rounds.',
                               lower_bound=1)
_OUT = flags.DEFINE_string('out', None, 'Markdown file whose table is replaced '
                           '(default: print only).')

BEGIN, END = '<!-- table:begin -->', '<!-- table:end -->'
GetConfig = Callable[[str], ml_collections.ConfigDict]


def config_paths(names: list[str]) -> dict[str, str]:
  """Name -> file of each config: `names` (a name in configs/ or a path) or,
  if empty, every file in configs/, default first."""
  if not names:
    paths = sorted(glob.glob(os.path.join(_ROOT, 'configs', '[!_]*.py')))
    paths.sort(key=lambda p: os.path.basename(p) != 'default.py')
    return {os.path.basename(p)[:-3]: p for p in paths}
  result = {}
  for name in names:
    path = name if name.endswith('.py') else os.path.join(_ROOT, 'configs', f'{name}.py')
    if not os.path.isfile(path):
      raise ConfigError(f'--configs: no config file {path}')
    result[os.path.basename(path)[:-3]] = path
  return result


def load(name: str, path: str) -> GetConfig:
  """The `get_config` of the config file `path`."""
  spec = importlib.util.spec_from_file_location(f'configs.{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config


def skip_reason(get_config: GetConfig, data: str) -> str | None:
  """Why `get_config` does not take the data argument `data`; None if it does."""
  try:
    inspect.signature(get_config).bind(data)
  except TypeError as e:
    return f'TypeError: {e}'
  try:
    config = get_config(data)
  except ValueError as e:  # the config rejects the value
    return f'{type(e).__name__}: {e}'
  if config.data.name != data:  # the argument is something else, e.g. a path
    return f'its argument is not the data set: data.name={config.data.name!r}'
  return None


def run_one(name: str, get_config: GetConfig, data: str, rounds: int | None) -> dict:
  """Trains `get_config(data)`; returns its final evaluation and time."""
  config = get_config(data)
  if rounds:
    config.rounds = rounds
  start = time.perf_counter()
  history = train(config, log=lambda line: None)
  seconds = time.perf_counter() - start
  return {'config': name, 'data': data, 'rounds': config.rounds, 'seconds': seconds,
          **history[-1]}


def table(rows: list[dict]) -> str:
  """The Markdown table of `rows`."""
  lines = ['| config | data | rounds | test_accuracy | test_loss | client_train_accuracy '
           '| seconds |', '|---|---|---:|---:|---:|---:|---:|']
  lines += [f"| {r['config']} | {r['data']} | {r['rounds']} | {r['test_accuracy']:.4f} | "
            f"{r['test_loss']:.4f} | {r['client_train_accuracy']:.4f} | {r['seconds']:.1f} |"
            for r in rows]
  return '\n'.join(lines)


def check_out(path: str) -> None:
  """Raises ConfigError unless `table` can be written to `path` after the runs."""
  if os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
    raise ConfigError(f'--out={path}: not a file in an existing directory')
  if os.path.exists(path):
    with open(path) as f:
      doc = f.read()
    if BEGIN not in doc or END not in doc:
      raise ConfigError(f'--out={path} lacks the markers {BEGIN} ... {END}')


def write_table(path: str, text: str, command: str) -> None:
  """Writes `text` between the markers of `path` (or a new file), atomically."""
  head, tail = '', '\n'
  if os.path.exists(path):
    with open(path) as f:
      head, rest = f.read().split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
  stamp = (f'Produced by `{command}` on {time.strftime("%Y-%m-%d")}, '
           f'jax {jax.__version__}, {os.cpu_count()} CPU cores.')
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(f'{head}{BEGIN}\n{stamp}\n\n{text}\n{END}{tail}')
  os.replace(tmp, path)


def one_line(e: Exception) -> str:
  """`e` as one line: the message (with its type unless it is a Config/DataError)."""
  lines = [line for line in str(e).splitlines() if line.strip()] or ['']
  text = lines[0] + (' ...' if len(lines) > 1 else '')
  return text if isinstance(e, (ConfigError, DataError)) else f'{type(e).__name__}: {text}'


def main(argv: list[str]) -> None:
  """Runs the selected configs; prints the table; writes it to --out."""
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if not _DATA.value:
    raise ConfigError('--data is empty')
  if _OUT.value:
    check_out(_OUT.value)
  runs, skipped, failed = [], [], []
  for name, path in config_paths(_CONFIGS.value).items():
    try:
      get_config = load(name, path)
      reasons = {data: skip_reason(get_config, data) for data in _DATA.value}
    except Exception as e:  # noqa: BLE001  (a broken config file fails alone)
      failed.append(name)
      print(f'error: {name}: {one_line(e)}', file=sys.stderr, flush=True)
      continue
    runs += [(name, get_config, data) for data, why in reasons.items() if why is None]
    rejected = [data for data, why in reasons.items() if why]
    if rejected:
      which = name if len(rejected) == len(reasons) else f'{name}:{",".join(rejected)}'
      skipped.append(f'{which} ({reasons[rejected[0]]})')
  if skipped:
    print(f'skipped configs that do not take the data argument: {"; ".join(skipped)}',
          file=sys.stderr, flush=True)
  if not runs and not failed:
    raise ConfigError('no selected config takes the data argument')
  rows = []
  for name, get_config, data in runs:
    try:
      rows.append(run_one(name, get_config, data, _ROUNDS.value))
    except Exception as e:  # noqa: BLE001  (report it, keep the other results)
      failed.append(f'{name}:{data}')
      print(f'error: {name}:{data}: {one_line(e)}', file=sys.stderr, flush=True)
      continue
    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
  text = table(rows)
  print(text, flush=True)
  if failed:
    if _OUT.value:
      print(f'not written: {_OUT.value} ({len(failed)} failed)', file=sys.stderr)
    sys.exit(1)
  if _OUT.value:
    command = 'python scripts/compare_algorithms.py ' + ' '.join(sys.argv[1:])
    write_table(_OUT.value, text, command.strip())
    print(f'wrote {_OUT.value}', file=sys.stderr)


if __name__ == '__main__':
  cli.run(main)
