"""Train a federated model: `python scripts/train.py --config=configs/default.py`.

Override any config field on the command line, e.g. `--config.rounds=50
--config.engine.strategy=chunked`.
"""

import _thread
import os
import signal
import sys
import threading

# Set first, before the imports (seconds of JAX, XLA and TensorFlow start-up):
# a stop signal before the run's own handler (`StopSignals`, from its first
# round) is one line and exit 130 at once, instead of a KeyboardInterrupt
# raised inside an extension's initialization or XLA's (a traceback, a
# half-initialized module, or a segmentation fault as the interpreter tears
# down beside XLA's threads).
_WORKDIR_SEEN: list[str | None] = []  # main's --workdir, once flags are parsed


def interrupted_line(workdir: str | None, when: str) -> str:
  """What an interrupt `when` ('before training started', 'mid-round') left
  in `workdir` (None: no workdir, or not known yet) and how to go on."""
  checkpoints = os.path.join(workdir, 'checkpoints') if workdir else ''
  if os.path.isdir(checkpoints) and any(n.isdigit() for n in os.listdir(checkpoints)):
    return f'interrupted {when}; continue from the last checkpoint with --resume'
  if workdir and os.path.isfile(os.path.join(workdir, 'config.json')):
    return f'interrupted {when}; no round was saved: run it again with --resume'
  return f'interrupted {when}; nothing was saved: run it again'


def _stop_at_start_up(signum: int, frame: object) -> None:
  """SIGINT / SIGTERM outside the run's rounds: one line, exit 130 at once
  (os._exit: no teardown beside XLA's threads; the run directory is safe to
  leave at any moment, as after SIGKILL)."""
  del signum, frame
  workdir = _WORKDIR_SEEN[-1] if _WORKDIR_SEEN else None
  os.write(2, (interrupted_line(workdir, 'before training started') + '\n').encode())
  os._exit(130)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _take_stop_signals() -> None:
  """Takes every stop signal (all threads block them) and runs its handler:
  the start-up one here, at once; any other on the main thread, at its next
  bytecode. A signal the kernel gave one of XLA's threads would otherwise
  wait for the main thread's next bytecode, forever if it is blocked reading
  a pipe (`--config.data.path=<(...)`)."""
  while True:
    signum = signal.sigwait(STOP_SIGNALS)
    if signal.getsignal(signum) is _stop_at_start_up:
      _stop_at_start_up(signum, None)
    _thread.interrupt_main(signum)


if __name__ == '__main__':
  signal.signal(signal.SIGINT, _stop_at_start_up)
  signal.signal(signal.SIGTERM, _stop_at_start_up)
  signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # before any other thread starts
  threading.Thread(target=_take_stop_signals, name='stop signals', daemon=True).start()

import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import jax  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from fedjax_sim import distributed  # noqa: E402
from fedjax_sim.aggregators.registry import aggregator_names  # noqa: E402
from fedjax_sim.algorithms.registry import algorithm_names  # noqa: E402
from fedjax_sim.config.checks import check_config  # noqa: E402
from fedjax_sim.config.files import config_docs, define_config_file  # noqa: E402
from fedjax_sim.data.registry import DATASETS  # noqa: E402
from fedjax_sim.models.registry import model_names  # noqa: E402
from fedjax_sim.config.sections import as_json  # noqa: E402
from fedjax_sim.core.sharding import use_cpu_cores  # noqa: E402
from fedjax_sim.errors import ConfigError, DataError, DivergedError, Interrupted  # noqa: E402
from fedjax_sim.config import sweep as sweep_lib  # noqa: E402
from fedjax_sim.config.sweep_train import describe_groups, describe_members, sweep  # noqa: E402
from fedjax_sim.config.train import train  # noqa: E402
from fedjax_sim.rundir.summary import summary  # noqa: E402

CATALOG = {
    'configs': lambda: [f'configs/{n}  {(d.splitlines() or [""])[0]}'
                        for n, d in config_docs(os.path.join(_ROOT, 'configs'))],
    'algorithms': algorithm_names,
    'aggregators': aggregator_names,
    'models': model_names,
    'data': lambda: list(DATASETS),
}


_CONFIG = define_config_file('config', 'Experiment config file (default: configs/default.py).')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for the config, metrics (JSONL, TensorBoard), '
    'checkpoints and report of the run.')
_RESUME = flags.DEFINE_bool('resume', False, 'Continue the run in --workdir '
                            'from its newest intact checkpoint, or extend a finished '
                            'run with a larger --config.rounds.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', '', 'host:port of process 0 (multi-process runs).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', 1, 'Processes in a multi-process run (jax.distributed).', lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer('process_id', 0, 'This process, in [0, --num_processes).',
                                   lower_bound=0)
_LIST = flags.DEFINE_enum(
    'list', None, list(CATALOG), 'Print the available configs, algorithms, '
    'aggregators, models or data sets, one per line, and exit.')
_PRINT_CONFIG = flags.DEFINE_bool(
    'print_config', False, 'Print the resolved config (after overrides) as JSON, '
    'check it, and exit without training.')
_SWEEP = flags.DEFINE_multi_string(
    'sweep', [], 'A swept config field and its values, FIELD=V1,V2,...; repeat it for a '
    'grid (docs/sweeps.md). Members that differ only in traced values train as one program.')
_SWEEP_MODE = flags.DEFINE_enum(
    'sweep_mode', None, ['product', 'zip'], "The sweep's members: every combination of the "
    "axes' values (product, the default) or their i-th values together (zip).")
_PROGRESS = flags.DEFINE_enum(
    'progress', None, ['bar', 'lines', 'none'],
    'bar: tqdm progress bar; lines: one line per eval (default when stderr is '
    'not a terminal); none: quiet.')



@flags.validator('workdir')
def _names_a_directory(value: str | None) -> bool:
  """--workdir, when given, is a path: not empty (an unset shell variable) nor blank."""
  if value is not None and not value.strip():
    got = (f'a blank value {value!r} (only spaces)' if value
           else 'an empty value (an unset shell variable?)')
    raise flags.ValidationError(f'must name a directory, got {got}; leave --workdir out to '
                                'write nothing')
  return True


def main(argv):
  del argv  # parse_flags refused extra arguments
  _WORKDIR_SEEN.append(_WORKDIR.value)  # an interrupt from now names what it left there
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if _LIST.value:
    print('\n'.join(CATALOG[_LIST.value]()))
    return
  try:
    config = sweep_lib.with_flags(_CONFIG.value, _SWEEP.value, _SWEEP_MODE.value)
    swept = bool(sweep_lib.axes(config))
    if _PRINT_CONFIG.value:
      print(json.dumps(as_json(config), indent=2))
      check_config(config)
      if swept:
        members = sweep_lib.members(config)
        print(describe_groups(sweep_lib.groups(config, members)))
        print(describe_members(members))
      return
    if _RESUME.value and not _WORKDIR.value:
      raise ConfigError('--resume needs --workdir')
    if _NUM_PROCESSES.value > 1:
      distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    else:
      use_cpu_cores()  # one CPU device per core, for engine.strategy 'auto'
    progress = _PROGRESS.value or ('bar' if sys.stderr.isatty() else 'lines')
    start = time.perf_counter()
    if swept:
      sweep(config, workdir=_WORKDIR.value, resume=_RESUME.value,
            progress='none' if progress == 'none' else 'lines')
      return
    history = train(config, workdir=_WORKDIR.value, resume=_RESUME.value,
                    progress=progress)
    if history and progress != 'none' and jax.process_index() == 0:
      print(summary(history, _WORKDIR.value, time.perf_counter() - start))
  except (ConfigError, DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except DivergedError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  except Interrupted as e:
    print(e, file=sys.stderr)
    sys.exit(130)
  except KeyboardInterrupt:  # a second stop signal, within a round
    print(interrupted_line(_WORKDIR.value, 'mid-round'), file=sys.stderr)
    sys.exit(130)


HELP = ('-h', '-?', '--help', '--helpshort', '--helpfull')


def _config_path(argv: list[str]) -> str | None:
  """The file part of the last `--config=FILE[:ARG]` in `argv`."""
  values = [a.split('=', 1)[1] for a in argv if a.startswith('--config=')]
  return values[-1].split(':', 1)[0] if values else None


def _last_line(error: BaseException) -> str:
  """The last non-empty line of an error's text (a config file's own error,
  after the traceback absl quotes), without the exception's class name and
  the flag absl puts in front."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  last = re.sub(r'^flag --\S+\s*: ', '', lines[-1] if lines else type(error).__name__)
  return re.sub(r'^\w+(Error|Exception): ', '', last)


def _flag_of(error: flags.IllegalFlagValueError) -> str:
  """`--name=value` of the flag a parse error is about."""
  match = re.match(r'flag (--\S+?):? ', str(error))
  return match.group(1) if match else '--config'


def _innermost(error: BaseException) -> str:
  """The message of the innermost of nested errors (ConfigDict wraps a
  KeyError in an AttributeError), its lines joined by '; '."""
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  text = str(error.args[0]) if error.args else str(error)
  return '; '.join(line.strip() for line in text.splitlines() if line.strip())


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a bad flag, config file or override is one clear error."""
  if not any(a == '--config' or a.startswith('--config=') for a in argv):
    argv = argv[:1] + [f'--config={os.path.join(_ROOT, "configs", "default.py")}'] + argv[1:]
  if any(a in HELP for a in argv[1:]):
    app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
  path = _config_path(argv)
  try:
    if path is not None and not os.path.isfile(path):
      raise flags.Error(f'--config file {path!r} does not exist')
    rest = flags.FLAGS(argv)
    if len(rest) > 1:
      raise flags.Error(f'unexpected arguments {rest[1:]} (flags are --name=value)')
    return rest
  except (AttributeError, KeyError) as e:
    print(f'error: --config override names a field the config does not have: '
          f'{_innermost(e)}', file=sys.stderr)
  except flags.IllegalFlagValueError as e:
    print(f'error: {_flag_of(e)}: {_last_line(e)}', file=sys.stderr)
  except flags.Error as e:
    print(f'error: {e}', file=sys.stderr)
  sys.exit(2)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
