"""Train a federated model: `python scripts/train.py --config=configs/default.py`.

Override any config field on the command line, e.g. `--config.rounds=50
--config.engine.strategy=chunked`.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from fedjax_sim import distributed  # noqa: E402
from fedjax_sim.core.sharding import use_cpu_cores  # noqa: E402
from fedjax_sim.errors import ConfigError, DataError  # noqa: E402
from fedjax_sim.train import train  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (default: configs/default.py).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for the config, metrics (JSONL, TensorBoard), '
    'checkpoints and report of the run.')
_RESUME = flags.DEFINE_bool('resume', False, 'Continue the run in --workdir '
                            'from its newest checkpoint.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', '', 'host:port of process 0 (multi-process runs).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', 1, 'Processes in a multi-process run (jax.distributed).')
_PROCESS_ID = flags.DEFINE_integer('process_id', 0, 'This process, in [0, --num_processes).')
_PROGRESS = flags.DEFINE_enum(
    'progress', None, ['bar', 'lines', 'none'],
    'bar: tqdm progress bar; lines: one line per eval (default when stderr is '
    'not a terminal); none: quiet.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  try:
    if _RESUME.value and not _WORKDIR.value:
      raise ConfigError('--resume needs --workdir')
    if _NUM_PROCESSES.value > 1:
      distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    else:
      use_cpu_cores()  # one CPU device per core, for engine.strategy 'auto'
    progress = _PROGRESS.value or ('bar' if sys.stderr.isatty() else 'lines')
    train(_CONFIG.value, workdir=_WORKDIR.value, resume=_RESUME.value,
          progress=progress)
  except (ConfigError, DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
  """Parses flags; a bad flag or config override is one clear error."""
  if not any(a == '--config' or a.startswith('--config=') for a in argv):
    argv = argv[:1] + [f'--config={os.path.join(_ROOT, "configs", "default.py")}'] + argv[1:]
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    print(f'error: --config override names a field the config does not have: '
          f'{str(e).strip(chr(34))}', file=sys.stderr)
  except flags.Error as e:
    print(f'error: {e}', file=sys.stderr)
  sys.exit(2)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
