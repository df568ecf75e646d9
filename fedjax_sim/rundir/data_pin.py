"""The data files a run reads, pinned by their content.

`config.json` pins the experiment, and so the paths of its data files, but
not what they hold: a CSV edited between a run and its `--resume` (labels
flipped, rows dropped) would silently train the rest of the run on other
data. A fresh run records the size and SHA-256 of each file its config names
(`FIELDS`) in `<workdir>/data_files.json`; `--resume` refuses a file that
changed since. A benchmark's data is a directory of large read-only
downloads, not pinned (hashing gigabytes at every start).
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Any

from fedjax_sim.errors import ConfigError, DataError
from fedjax_sim.rundir import runlog

PINS = 'data_files.json'
# Config fields that may name a data file (a field naming no regular file,
# such as `data.path='sklearn:breast_cancer'` or a directory, is not pinned).
FIELDS = ('data.path', 'data.vocab_file', 'data.tags_file', 'availability.trace_file')


def _field(config: Any, name: str) -> Any:
  """The value of dotted field `name` in a JSON config (None if absent)."""
  for key in name.split('.'):
    config = config.get(key) if isinstance(config, dict) else None
  return config


def named_files(config: dict[str, Any]) -> dict[str, str]:
  """`{field: path}` of the `FIELDS` of a JSON config that name a regular file."""
  paths = {name: _field(config, name) for name in FIELDS}
  return {name: path for name, path in paths.items()
          if isinstance(path, str) and path and os.path.isfile(path)}


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
  """The file's SHA-256 (cached while its size and modification time hold)."""
  del size, mtime_ns  # the cache key
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def fingerprint(path: str) -> dict[str, Any]:
  """`{'path', 'bytes', 'sha256'}` of the file at `path`."""
  stat = os.stat(path)
  return {'path': path, 'bytes': stat.st_size,
          'sha256': _sha256(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)}


def record(workdir: str, config: dict[str, Any]) -> None:
  """Writes the fingerprints of the run's data files to `<workdir>/data_files.json`."""
  pins = {name: fingerprint(path) for name, path in named_files(config).items()}
  runlog.write_json_atomic(os.path.join(workdir, PINS), pins)


def is_recorded(workdir: str) -> bool:
  """Whether the run in `workdir` pinned its data (runs before this file did not)."""
  return os.path.isfile(os.path.join(workdir, PINS))


def is_fingerprint(pinned: Any) -> bool:
  """Whether a recorded value is what `fingerprint` writes."""
  return (isinstance(pinned, dict) and isinstance(pinned.get('sha256'), str)
          and isinstance(pinned.get('bytes'), int))


def change(pinned: dict[str, Any], path: str) -> str | None:
  """How the file at `path` differs from its recorded fingerprint, or None."""
  if not os.path.isfile(path):
    return 'it is gone'
  now = fingerprint(path)
  if now['bytes'] != pinned.get('bytes'):
    return f'{pinned["bytes"]} bytes when the run started, {now["bytes"]} now'
  if now['sha256'] != pinned['sha256']:
    return 'same size, other content (its SHA-256 differs)'
  return None


def check(workdir: str, config: dict[str, Any]) -> None:
  """A ConfigError naming the first data file of the run in `workdir` whose
  content changed since the run started (nothing to check for a run that
  recorded none)."""
  path = os.path.join(workdir, PINS)
  try:
    pins = runlog.read_json(path)
  except DataError as e:
    raise ConfigError(f'--workdir {workdir!r}: {e}') from None
  if pins is None:
    return
  if not isinstance(pins, dict) or not all(map(is_fingerprint, pins.values())):
    raise ConfigError(f'--workdir {workdir!r}: {path} does not hold the fingerprints of the '
                      "run's data files; fix or remove it")
  for name, pinned in sorted(pins.items()):
    file = _field(config, name)
    problem = change(pinned, file) if isinstance(file, str) else 'the config no longer names it'
    if problem:
      raise ConfigError(f'--resume: {name}={file!r} changed since the run in --workdir '
                        f'{workdir!r} started ({problem}; recorded in {path}); restore the '
                        'file as it was, or train on it in a new --workdir')
