"""Fault injection: SIGKILL a training run at seeded random moments, resume it,
and check it ends bit-identical to an uninterrupted run.

`python tests/kill_trials.py OUT_DIR TRIALS SEED [MODE]` prints one JSON object: per
trial, how its kill was aimed (`at`: after a seeded random delay in the training
window, wherever the run is; `write`: inside a seeded checkpoint write, where the run
stops itself just before orbax renames the item or the step directory into place;
`after_write`: just after a seeded checkpoint's checksums are written, where the run
stops itself between rounds; the two stops hold however loaded the host; trials take
the three in turn), where it landed (`between` rounds, `during` a checkpoint write:
orbax's temporary directory present, `unsummed`: a checkpoint written but not
yet its checksums, `finished`) and whether the resumed run's final checkpoint,
metrics and client-norm rows equal the reference's.

Every run is a forked child of this process, which imports the library once
and initializes no JAX backend until all children are done (forking a
process with live XLA threads is unsafe); a persistent compilation cache
makes each child's compile a cache read.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Callable

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from configs import default, scaffold  # noqa: E402
from fedjax_sim.rundir import checkpoint, runlog  # noqa: E402
from fedjax_sim.config.train import train  # noqa: E402

VOLATILE = ('time', 'rounds_per_sec')


MODES = ('clock', 'fedbuff', 'disk')
AIMS = ('at', 'write', 'after_write')
MODE = ['clock']  # set by main() before any child is forked


def config():
  """A small run that checkpoints every round, so kills often hit a write.
  MODE 'clock': synchronous rounds on the virtual clock (availability, uneven
  devices, a deadline with partial work, over-selection), so the replayed
  schedule is checked too; 'fedbuff': asynchronous FedBuff, whose schedule
  and buffer are in the checkpointed state; 'disk': SCAFFOLD with its
  controls in the on-disk store, which a resume rolls back to its checkpoint."""
  c = (scaffold if MODE[0] == 'disk' else default).get_config('synthetic')
  c.rounds, c.eval_every, c.clients_per_round = 12, 4, 5
  c.checkpoint.every, c.checkpoint.keep = 1, 2
  c.engine.strategy = 'sequential'
  c.system.update(speed=2., speed_sigma=0.8)
  if MODE[0] == 'disk':
    c.engine.population = 'disk'
  elif MODE[0] == 'clock':
    c.availability.update(kind='iid', probability=0.2)
    c.clock.update(deadline=10., late='partial', over_selection=0.4)
  else:
    c.fedbuff.update(buffer_size=2, concurrency=6)
  return c


def stop_at_rename(step: int, rename: int) -> None:
  """Makes this process SIGSTOP itself inside the write of checkpoint `step`,
  just before orbax renames its item's (`rename` 0) or its step's (1)
  temporary directory into place."""
  real = os.rename
  tmp = os.sep + f'{step}.orbax-checkpoint-tmp'

  def renaming(src, dst, *args, **kwargs):
    if tmp in os.fspath(src) and (os.path.basename(dst) == str(step)) == bool(rename):
      # To this thread (orbax renames on a worker thread): it stops before
      # the rename, where a signal to the process may be taken by another.
      signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
    return real(src, dst, *args, **kwargs)
  os.rename = renaming


def stop_after_save(step: int) -> None:
  """Makes this process SIGSTOP itself once checkpoint `step` and its checksums
  are written, before the next round (between rounds)."""
  real = checkpoint.save

  def saving(mgr, rounds_done, state):
    real(mgr, rounds_done, state)
    if rounds_done == step:
      os.kill(os.getpid(), signal.SIGSTOP)
  checkpoint.save = saving


def run_child(workdir: str, resume: bool, stop: Callable[[], None] | None = None) -> int:
  """Forks a child that trains in `workdir`, calling `stop()` first (which
  makes it stop itself at a chosen point); returns its pid."""
  pid = os.fork()
  if pid == 0:
    code = 0
    try:
      if stop:
        stop()
      train(config(), log=lambda line: None, workdir=workdir, resume=resume,
            progress='none')
    except BaseException as e:  # reported through the exit code
      print(f'child: {type(e).__name__}: {e}', file=sys.stderr)
      code = 1
    os._exit(code)
  return pid


def wait(pid: int) -> int:
  return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def training_window(workdir: str) -> tuple[float, float]:
  """Seconds after its start at which a run (compile cache warm) trains: from
  about one round before its first checkpoint to its last checkpoint. An `at`
  kill drawn from this window lands between rounds or inside a checkpoint write."""
  start = time.perf_counter()
  pid = run_child(workdir, False)
  seen = {}
  rounds = config().rounds
  done, status = 0, 0
  while not done:
    done, status = os.waitpid(pid, os.WNOHANG)
    for step in (1, rounds):
      if step not in seen and os.path.isdir(os.path.join(workdir, 'checkpoints', str(step))):
        seen[step] = time.perf_counter() - start
    time.sleep(0.002)
  assert os.waitstatus_to_exitcode(status) == 0, 'the timed run failed'
  assert set(seen) == {1, rounds}, f'checkpoints not seen: {seen}'
  per_round = (seen[rounds] - seen[1]) / (rounds - 1)
  return max(seen[1] - per_round, 0.), seen[rounds]


def writing(workdir: str) -> bool:
  """Whether orbax is writing a checkpoint (its temporary directory exists)."""
  return bool(glob.glob(os.path.join(workdir, 'checkpoints', '*tmp*')))


def kill_stopped(pid: int) -> None:
  """SIGKILLs the run once it has stopped itself, and reaps it (a run that
  ends first is reaped unkilled)."""
  _, status = os.waitpid(pid, os.WUNTRACED)
  if os.WIFSTOPPED(status):
    os.kill(pid, signal.SIGKILL)
    wait(pid)


def kill_now(pid: int) -> None:
  """SIGKILLs the run now, and reaps it (a run that has ended is reaped
  unkilled)."""
  os.kill(pid, signal.SIGSTOP)
  kill_stopped(pid)


def where_killed(workdir: str) -> str:
  checkpoints = os.path.join(workdir, 'checkpoints')
  if writing(workdir):
    return 'during'
  steps = [d for d in glob.glob(os.path.join(checkpoints, '*')) if os.path.basename(d).isdigit()]
  if any(not os.path.exists(os.path.join(d, 'sha256sums.json')) for d in steps):
    return 'unsummed'
  if os.path.exists(os.path.join(checkpoints, str(config().rounds))):
    return 'finished'
  return 'between'


def rows(workdir: str, name: str) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in VOLATILE}
          for r in runlog.read_jsonl(os.path.join(workdir, name))]


def final_leaves(workdir: str) -> list:
  """The arrays of the final checkpoint and of an on-disk client-state store
  (read after all children are done)."""
  import numpy as np
  import orbax.checkpoint as ocp
  with ocp.StandardCheckpointer() as reader:
    state = reader.restore(os.path.join(workdir, 'checkpoints', str(config().rounds),
                                        'default'))
  stored = sorted(glob.glob(os.path.join(workdir, 'population', 'leaf-*.npy')))
  return [np.asarray(leaf) for leaf in jax.tree.leaves(state)] + [np.load(f) for f in stored]


def main(out_dir: str, trials: int, seed: int) -> None:
  jax.config.update('jax_compilation_cache_dir', os.path.join(out_dir, 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
  reference = os.path.join(out_dir, 'reference')
  assert wait(run_child(reference, False)) == 0, 'the reference run failed'
  first, last = training_window(os.path.join(out_dir, 'timed'))
  rng = random.Random(seed)
  results = []
  for trial in range(trials):
    workdir = os.path.join(out_dir, f'trial{trial}')
    aim = AIMS[trial % len(AIMS)]
    stop, stop_in, delay = None, None, 0.
    if aim == 'at':  # a seeded moment in the training window
      delay = rng.uniform(first, last)
    else:  # a seeded checkpoint (and rename); the run stops itself there
      step = rng.randint(1, config().rounds - 1)
      stop_in = (step, rng.randint(0, 1)) if aim == 'write' else (step,)
      stop = functools.partial(stop_at_rename if aim == 'write' else stop_after_save, *stop_in)
    pid = run_child(workdir, False, stop)
    time.sleep(delay)
    (kill_now if aim == 'at' else kill_stopped)(pid)
    where = where_killed(workdir)
    has_run = os.path.exists(os.path.join(workdir, runlog.CONFIG))
    code = wait(run_child(workdir, has_run))
    results.append({'trial': trial, 'delay_s': round(delay, 3), 'aim': aim, 'stop_in': stop_in,
                    'killed': where,
                    'resumed': has_run, 'exit': code})
  expected = final_leaves(reference)
  for result in results:
    workdir = os.path.join(out_dir, f'trial{result["trial"]}')
    same_state = result['exit'] == 0 and all(
        a.dtype == b.dtype and a.tobytes() == b.tobytes()
        for a, b in zip(expected, final_leaves(workdir)))
    result['identical'] = bool(same_state and all(
        rows(workdir, name) == rows(reference, name)
        for name in (runlog.METRICS, runlog.CLIENT_NORMS)))
  clock = [(r.get('virtual_time'), r.get('reported_clients', r.get('mean_staleness')))
           for r in runlog.read_jsonl(os.path.join(reference, runlog.CLIENT_NORMS))]
  print(json.dumps({'window_s': [round(first, 3), round(last, 3)], 'trials': results,
                    'reference_clock': clock}))


if __name__ == '__main__':
  MODE[0] = sys.argv[4] if len(sys.argv) > 4 else 'clock'
  assert MODE[0] in MODES, f'MODE must be one of {MODES}'
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
