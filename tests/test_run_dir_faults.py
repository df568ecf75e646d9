"""Faults around a run's directory (issue 28, items 12 and 13), through
`scripts/train.py`: two writers on one workdir, a read-only `checkpoints/` and
a full disk each end with one line and exit 2, never a traceback.

The read-only and full directories are small tmpfs mounts where this process
may mount them (root); elsewhere a stand-in raises the same OS errors where
orbax and tensorstore would (`_STAND_IN`)."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fedjax_sim.errors import RunFileError
from fedjax_sim.rundir import lock, write_errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'train.py')
QUICK = ('--config.rounds=2', '--config.eval_every=1', '--config.checkpoint.every=1',
         '--progress=lines')
# Run by `python -c`: train.py with checkpoint writes failing as on a read-only
# or full file system (argv[1]: 'ro' or 'full'), for hosts that cannot mount.
_STAND_IN = '''
import errno, os, runpy, sys
import orbax.checkpoint as ocp
how = sys.argv.pop(1)
def save(self, step, *args, **kwargs):
  path = os.path.join(str(self.directory), f'{step}.orbax-checkpoint-tmp')
  if how == 'ro':
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
  raise ValueError(f'RESOURCE_EXHAUSTED: Error writing "x" in OCDBT database at local file '
                   f'"{path}/": Failed writing: "{path}/d/0": Failed to write 9 bytes to '
                   f"file 17: No space left on device [os_error_code='28']")
ocp.CheckpointManager.save = save
sys.argv[0] = SCRIPT
runpy.run_path(sys.argv[0], run_name='__main__')
'''.replace('SCRIPT', repr(SCRIPT))


def _train(*flags: str, stand_in: str | None = None) -> subprocess.CompletedProcess:
  head = ([sys.executable, '-c', _STAND_IN, stand_in] if stand_in
          else [sys.executable, SCRIPT])
  return subprocess.run(head + list(flags), capture_output=True, text=True, timeout=300,
                        cwd=ROOT)


def _mount_tmpfs(path: str, size: str) -> bool:
  """Mounts a tmpfs of `size` at `path`; False if this host cannot."""
  os.makedirs(path, exist_ok=True)
  try:
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path],
                          capture_output=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return False
  return done.returncode == 0


def _faulty_checkpoints(workdir: str, how: str) -> str | None:
  """Moves `workdir/checkpoints` onto a tmpfs that is then read-only ('ro')
  or too small for another checkpoint ('full'); returns None, or the stand-in
  to use where this host cannot mount."""
  checkpoints = os.path.join(workdir, 'checkpoints')
  shutil.move(checkpoints, checkpoints + '.saved')
  if not _mount_tmpfs(checkpoints, '1m' if how == 'ro' else '200k'):
    os.rmdir(checkpoints)
    shutil.move(checkpoints + '.saved', checkpoints)
    return how
  shutil.copytree(checkpoints + '.saved', checkpoints, dirs_exist_ok=True)
  if how == 'ro':
    subprocess.run(['mount', '-o', 'remount,ro', checkpoints], check=True)
  return None


@pytest.fixture(scope='module')
def one_round(tmp_path_factory) -> str:
  """A run of 1 round with its checkpoint, to be extended to 2."""
  workdir = str(tmp_path_factory.mktemp('faults') / 'run')
  got = _train(f'--workdir={workdir}', '--config.rounds=1', *QUICK[1:])
  assert got.returncode == 0, got.stderr
  return workdir


@pytest.mark.parametrize('how, words', [
    ('ro', r'Read-only file system; make it writable \(or copy the run to a writable '
           r'--workdir\), then continue the run with --resume'),
    ('full', r'No space left on device; the disk is full: free some space, then continue the '
             r'run with --resume')])
def test_unwritable_checkpoints_are_one_line_naming_the_path(one_round, tmp_path, how, words):
  workdir = str(tmp_path / 'run')
  shutil.copytree(one_round, workdir)
  stand_in = _faulty_checkpoints(workdir, how)
  try:
    got = _train(f'--workdir={workdir}', '--resume', *QUICK, stand_in=stand_in)
  finally:
    if stand_in is None:
      subprocess.run(['umount', os.path.join(workdir, 'checkpoints')], check=True)
  lines = got.stderr.strip().splitlines()
  assert got.returncode == 2 and len(lines) == 1, got.stderr[-3000:]
  # The file the OS names, else the checkpoint being written (a full disk can
  # fail a write whose error names no file: a metadata file, the checksums).
  assert re.fullmatch(rf'error: cannot write {re.escape(workdir)}/checkpoints/2'
                      rf'(\.orbax-checkpoint-tmp\S*|/\S+)?: {words}', lines[0]), lines[0]
  # The rounds before the failed save were logged.
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    assert [json.loads(line)['round'] for line in f] == [1, 2]


def test_an_os_error_names_its_path_and_what_to_do():
  with pytest.raises(RunFileError, match=r'^cannot write /w/metrics\.jsonl: No space left on '
                     r'device; the disk is full: free some space, then continue the run'):
    with write_errors.writing('/w'):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), '/w/metrics.jsonl')
  with pytest.raises(RunFileError, match=r'^cannot write /w: Permission denied; make it writable'):
    with write_errors.writing('/w'):
      raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
  with pytest.raises(ValueError, match='^not an OS error$'):  # other errors pass through
    with write_errors.writing('/w'):
      raise ValueError('not an OS error')


class _FullDisk:
  """A checkpoint manager whose writes fail as a full disk's `write()` does:
  an OSError that names no file."""
  directory = '/w/checkpoints'

  def save(self, step, args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_checkpoint_write_naming_no_file_names_the_checkpoint():
  from fedjax_sim.rundir import checkpoint
  with pytest.raises(RunFileError, match=r'^cannot write /w/checkpoints/7: No space left on '
                     r'device; the disk is full: free some space, then continue the run'):
    checkpoint.save(_FullDisk(), 7, {'w': np.zeros(2)})


def test_a_lock_is_held_once_and_released_on_close(tmp_path):
  held = lock.hold(str(tmp_path))
  with pytest.raises(lock.Busy):
    lock.hold(str(tmp_path))
  held.close()
  lock.hold(str(tmp_path)).close()
  file_lock = lock.hold(str(tmp_path / '.control.lock'))  # a lock file, created
  with pytest.raises(lock.Busy):
    lock.hold(str(tmp_path / '.control.lock'))
  file_lock.close()


def test_a_second_writer_is_refused_while_the_run_is_live(tmp_path):
  workdir = str(tmp_path / 'run')
  flags = (f'--workdir={workdir}', '--config.rounds=100000', '--config.eval_every=20',
           '--config.checkpoint.every=0', '--progress=none')
  first = subprocess.Popen([sys.executable, SCRIPT, *flags], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(workdir, 'config.json')):  # written once locked
      assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
      time.sleep(0.2)
    second = subprocess.run([sys.executable, SCRIPT, *flags, '--resume'], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert first.poll() is None  # still running: the refusal was about a live run
  finally:
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
  assert second.returncode == 2, second.stderr
  assert second.stderr.strip() == (
      f"error: --workdir '{workdir}' is in use: another process is running this run (a "
      'training script or the control room); wait for it to end or stop it, then try again')
  assert first.returncode == 130, err
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rounds = [json.loads(line)['round'] for line in f]
  assert rounds == sorted(set(rounds))  # one writer: no round logged twice
  lock.hold(workdir).close()  # released when the run ended


def test_a_whole_workdir_on_a_full_disk_is_one_line_naming_the_file(tmp_path):
  """The whole run directory on a full file system: one line naming the file
  whose write failed (not the run directory), no asyncio traceback from
  orbax's event loops closed with writes still in flight; once space is
  freed, --resume continues past the checkpoint left half-written."""
  mount = str(tmp_path / 'mnt')
  if not _mount_tmpfs(mount, '200k'):
    pytest.skip('cannot mount a tmpfs here (not root)')
  workdir = os.path.join(mount, 'run')
  flags = ('--config.rounds=4', '--config.eval_every=1', '--config.checkpoint.every=1',
           '--progress=lines')
  try:
    got = _train(f'--workdir={workdir}', *flags)
    lines = got.stderr.strip().splitlines()
    assert got.returncode == 2 and len(lines) == 1, got.stderr[-3000:]
    assert 'Traceback' not in got.stderr and 'Exception ignored' not in got.stderr
    assert re.fullmatch(rf'error: cannot write {re.escape(workdir)}/\S+: No space left on '
                        r'device; the disk is full: free some space, then continue the run '
                        r'with --resume', lines[0]), lines[0]
    subprocess.run(['mount', '-o', 'remount,size=64m', mount], check=True)
    again = _train(f'--workdir={workdir}', '--resume', *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'Traceback' not in again.stderr
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      assert [json.loads(line)['round'] for line in f] == [1, 2, 3, 4]
  finally:
    subprocess.run(['umount', mount], check=True)


def test_orbax_event_loops_wait_for_writes_in_flight_before_closing():
  """Orbax's `_run_sync_via_new_loop` (wrapped by `fedjax_sim.rundir.checkpoint`):
  when one write fails, the others still in flight finish on an open loop; a
  write finishing from another thread (as tensorstore's do) no longer meets a
  closed loop ('RuntimeError: Event loop is closed')."""
  import asyncio
  import threading
  from orbax.checkpoint._src import asyncio_utils
  from fedjax_sim.rundir import checkpoint  # noqa: F401  (installs the wrapper)
  late: list[BaseException | None] = []
  threads: list[threading.Thread] = []

  async def fails():
    raise ValueError('no space')

  async def finishes_from_a_thread():
    loop, done = asyncio.get_running_loop(), asyncio.get_running_loop().create_future()

    def later():
      time.sleep(0.2)
      try:
        loop.call_soon_threadsafe(done.set_result, None)
        late.append(None)
      except RuntimeError as e:
        late.append(e)
    threads.append(threading.Thread(target=later))
    threads[0].start()
    await done

  async def save():
    await asyncio.gather(fails(), finishes_from_a_thread())

  with pytest.raises(ValueError, match='no space'):
    asyncio_utils._run_sync_via_new_loop(save())
  threads[0].join()
  assert late == [None], late
