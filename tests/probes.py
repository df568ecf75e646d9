"""The reliability probes: bad input and surprises, each tried on `scripts/train.py`.

`python tests/probes.py OUT_DIR` runs every probe as a forked child of this
process (which imports the script once and initializes no JAX backend) and
prints one JSON object per probe: its name, exit code, stderr and the last
stdout line. `tests/test_probes.py` checks each against what it must get, and
`docs/reliability.md` lists them.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import sys
from typing import Callable, NamedTuple

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'train.py')
QUICK = ('--config.rounds=2', '--config.eval_every=1', '--progress=lines')


class Probe(NamedTuple):
  name: str
  flags: tuple[str, ...]
  setup: Callable[[], None] | None = None  # prepares the probe's workdir


def _flip_newest_checkpoint(workdir: str) -> None:
  data = max(glob.glob(f'{workdir}/checkpoints/2/default/**/d/*', recursive=True),
             key=os.path.getsize)
  with open(data, 'r+b') as f:
    byte = f.read(1)
    f.seek(0)
    f.write(bytes([byte[0] ^ 1]))


def _flip_every_checkpoint(workdir: str) -> None:
  for step in os.listdir(f'{workdir}/checkpoints'):
    data = max(glob.glob(f'{workdir}/checkpoints/{step}/default/**/d/*', recursive=True),
               key=os.path.getsize)
    with open(data, 'r+b') as f:
      byte = f.read(1)
      f.seek(0)
      f.write(bytes([byte[0] ^ 1]))


def _drop_checkpoints(workdir: str) -> None:
  shutil.rmtree(os.path.join(workdir, 'checkpoints'))


def _drop_newest_metadata(workdir: str) -> None:
  os.remove(os.path.join(workdir, 'checkpoints', '2', '_CHECKPOINT_METADATA'))


_HELD = []  # locks this process holds for the rest of the probes


def _hold_lock(workdir: str) -> None:
  """Another process (this one, the probes' parent) is running the run."""
  from fedjax_sim.rundir import lock
  _HELD.append(lock.hold(workdir))


def _write(path: str, text: str) -> None:
  with open(path, 'w') as f:
    f.write(text)


def _drop_config(workdir: str) -> None:
  os.remove(os.path.join(workdir, 'config.json'))


def _cut_config(workdir: str) -> None:
  path = os.path.join(workdir, 'config.json')
  _write(path, open(path).read()[:40])


# Broken config files (name: text), each the `--config` of one probe.
CONFIG_FILES = {
    'raises': 'def get_config():\n  return 1 / 0\n',
    'syntax': 'def get_config(:\n',
    'imports': 'import no_such_module\n',
    'dict': 'def get_config():\n  return {"rounds": 2}\n',
    'none': 'def get_config():\n  pass\n',
    'no_get_config': 'CONFIG = 1\n',
    'no_client': ('from configs.default import get_config as default\n\n\n'
                  'def get_config():\n  config = default()\n  del config["client"]\n'
                  '  return config\n'),
}


def _config_file_probe(name: str, out_dir: str) -> Probe:
  path = os.path.join(out_dir, f'{name}.py')
  return Probe(f'config file: {name}', (f'--config={path}',) + QUICK,
               lambda: _write(path, CONFIG_FILES[name]))


def probes(out_dir: str) -> list[Probe]:
  """Every probe, in order; later ones reuse the run `finished` writes."""
  run = os.path.join(out_dir, 'run')
  bad_csv = os.path.join(out_dir, 'bad.csv')
  bad_trace = os.path.join(out_dir, 'trace.csv')
  work = lambda name: f'--workdir={os.path.join(out_dir, name)}'

  def copy(name: str, change: Callable[[str], None]) -> Callable[[], None]:
    """Setup: a copy of the finished run, changed by `change`."""
    def setup() -> None:
      shutil.copytree(run, os.path.join(out_dir, name))
      change(os.path.join(out_dir, name))
    return setup

  return [
      Probe('learning rate inf', ('--config.client.optimizer.learning_rate=inf',) + QUICK),
      Probe('learning rate 1e30', ('--config.client.optimizer.learning_rate=1e30',) + QUICK),
      Probe('learning rate 1e30 with a workdir',
            ('--config.client.optimizer.learning_rate=1e30', work('diverged')) + QUICK),
      Probe('learning rate 1e30, on_nonfinite=drop',
            ('--config.client.optimizer.learning_rate=1e30', '--config.on_nonfinite=drop')
            + QUICK),
      Probe('data.test_fraction=-0.1', ('--config.data.test_fraction=-0.1',) + QUICK),
      Probe('data.test_fraction=0', ('--config.data.test_fraction=0',) + QUICK),
      Probe('data.test_fraction=1', ('--config.data.test_fraction=1',) + QUICK),
      Probe('checkpoint.every=-1', ('--config.checkpoint.every=-1',) + QUICK),
      Probe('seed=-1', ('--config.seed=-1',) + QUICK),
      Probe('synthetic max_client_size=-5', (f'--config={ROOT}/configs/synthetic.py',
                                             '--config.data.max_client_size=-5') + QUICK),
      Probe('data.num_clients=5000 on digits', ('--config.data.num_clients=5000',
                                                '--config.rounds=1', '--progress=none')),
      Probe('clients_per_round above the clients', ('--config.clients_per_round=50',)),
      Probe('unknown model name', ('--config.model.name=vgg',)),
      Probe('CSV with a missing value',
            (f'--config={ROOT}/configs/hospitals.py', f'--config.data.path={bad_csv}',
             '--config.data.label=outcome', '--config.data.client_column=hospital') + QUICK,
            lambda: _write(bad_csv, 'age,weight,hospital,outcome\n30,70,a,sick\n'
                                    '41,,b,well\n')),
      Probe('availability trace with a bad row',
            ('--config.availability.kind=trace', f'--config.availability.trace_file={bad_trace}')
            + QUICK,
            lambda: _write(bad_trace, 'client,start,end\n0,0,3600\n1,7200,3600\n')),
      Probe('--help', ('--help',)),
      Probe('--list=algorithms', ('--list=algorithms',)),
      Probe('--print_config with a bad field', ('--print_config', '--config.seed=-3')),
      Probe('missing --config file', ('--config=configs/nope.py',)),
      Probe('config argument not accepted', (f'--config={ROOT}/configs/fedprox.py:synth',)),
      *(_config_file_probe(name, out_dir) for name in CONFIG_FILES),
      Probe('mlp hidden=(0,)', ('--config.model.options.hidden=(0,)',) + QUICK),
      Probe('mlp hidden=(-5,)', ('--config.model.options.hidden=(-5,)',) + QUICK),
      Probe('empty --workdir', ('--workdir=',) + QUICK),
      Probe('blank --workdir', ('--workdir= ',) + QUICK),
      Probe('--num_processes=0', ('--num_processes=0',) + QUICK),
      Probe('data.min_client_rows=-3', ('--config.data.min_client_rows=-3',) + QUICK),
      Probe('rounds=10^12', QUICK + ('--config.rounds=1000000000000',)),
      Probe('extra positional argument', ('extra',)),
      Probe('misspelled field', ('--config.clients_pr_round=3',)),
      Probe('bad flag value', ('--config.rounds=abc',)),
      Probe('read-only workdir', ('--workdir=/sys/fedjax_sim_run',) + QUICK),
      Probe('--resume without --workdir', ('--resume',)),
      Probe('--resume on a mistyped workdir', ('--resume', work('no_such_run')) + QUICK),
      Probe('finished run', (f'--workdir={run}', '--config.checkpoint.every=1') + QUICK),
      Probe('same workdir again, no --resume',
            (f'--workdir={run}', '--config.checkpoint.every=1') + QUICK),
      Probe('another experiment in the workdir',
            (f'--workdir={run}', '--config.checkpoint.every=1', '--config.seed=1', '--resume')
            + QUICK),
      Probe('--resume on the finished run',
            (f'--workdir={run}', '--config.checkpoint.every=1', '--resume') + QUICK),
      Probe('run files without config.json', (work('no_config'),) + QUICK,
            copy('no_config', _drop_config)),
      Probe('config.json cut short', (work('cut_config'), '--resume') + QUICK,
            copy('cut_config', _cut_config)),
      Probe('one bit flipped in the newest checkpoint',
            (work('flipped'), '--config.checkpoint.every=1', '--resume') + QUICK,
            copy('flipped', _flip_newest_checkpoint)),
      Probe('every checkpoint corrupt',
            (work('all_flipped'), '--config.checkpoint.every=1', '--resume') + QUICK,
            copy('all_flipped', _flip_every_checkpoint)),
      Probe('checkpoints deleted',
            (work('no_checkpoints'), '--config.checkpoint.every=1', '--resume') + QUICK,
            copy('no_checkpoints', _drop_checkpoints)),
      Probe('orbax warns about a checkpoint',
            (work('no_metadata'), '--config.checkpoint.every=1', '--resume') + QUICK,
            copy('no_metadata', _drop_newest_metadata)),
      Probe('workdir in use',
            (work('in_use'), '--config.checkpoint.every=1', '--resume') + QUICK,
            copy('in_use', _hold_lock)),
      Probe('--resume with more rounds',
            (f'--workdir={run}', '--config.checkpoint.every=1', '--resume') + QUICK[1:]
            + ('--config.rounds=3',)),
  ]


def run_probe(module, probe: Probe, out_dir: str, index: int) -> dict:
  """Runs one probe in a forked child; returns what it got."""
  if probe.setup:
    probe.setup()
  out, err = (os.path.join(out_dir, f'{index}.{s}') for s in ('out', 'err'))
  pid = os.fork()
  if pid == 0:
    with open(out, 'w') as o, open(err, 'w') as e:
      os.dup2(o.fileno(), 1)
      os.dup2(e.fileno(), 2)
    code = 0
    sys.argv = [SCRIPT, *probe.flags]  # config_flags reads the overrides from sys.argv
    sys.modules['__main__'] = module  # --help prints the script's usage
    try:
      module.app.run(module.main, argv=sys.argv, flags_parser=module.parse_flags)
    except SystemExit as e:
      code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
    except BaseException:  # an uncaught error: the traceback goes to stderr
      import traceback
      traceback.print_exc()
      code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
  code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
  with open(out) as o, open(err) as e:
    stdout, stderr = o.read(), e.read()
  return {'name': probe.name, 'flags': list(probe.flags), 'exit': code, 'stderr': stderr,
          'first_stdout': (stdout.strip().splitlines() or [''])[0],
          'last_stdout': (stdout.strip().splitlines() or [''])[-1],
          'last_eval': last_eval(stdout)}


def last_eval(stdout: str) -> str:
  """The last evaluation printed: its `round N` line and the indented lines
  under it, joined by two spaces ('' if there is none)."""
  lines = stdout.splitlines()
  starts = [i for i, line in enumerate(lines) if re.match(r'round +\d+ ', line)]
  if not starts:
    return ''
  block = [lines[starts[-1]]]
  for line in lines[starts[-1] + 1:]:
    if not line.startswith(' ' * 11):
      break
    block.append(line.strip())
  return '  '.join(block)


def main(out_dir: str) -> None:
  jax.config.update('jax_compilation_cache_dir', os.path.join(out_dir, 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
  spec = importlib.util.spec_from_file_location('train_script', SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  os.chdir(ROOT)
  for index, probe in enumerate(probes(out_dir)):
    print(json.dumps(run_probe(module, probe, out_dir, index)), flush=True)


if __name__ == '__main__':
  main(sys.argv[1])
