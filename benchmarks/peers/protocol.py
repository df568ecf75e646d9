"""The line protocol between `benchmarks/compare_peers.py` and a worker.

A worker sets its system up and runs one untimed warm-up round (compilation,
actor start-up), then prints `@@ ready {info}`; for each `round` line on its
stdin it runs one untimed round, then times one round and prints
`@@ round {"seconds": s}` (rounds of a real run follow each other in one
process; the untimed round wakes the process's threads and caches after the
other workers ran, which otherwise slowed whichever system came next); it
exits at `quit` or end of input. Messages go to the worker's original stdout;
anything the libraries print is moved to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, TextIO

PREFIX = '@@ '


def worker_parser(dump_params: bool = True) -> argparse.ArgumentParser:
  """The arguments every worker takes from `launch.worker_command`
  (`--workload`, `--clients`, `--sizes`, and `--dump_params` if it can write
  one round's parameters); a worker adds its own before `parse_worker_args`."""
  parser = argparse.ArgumentParser()
  parser.add_argument('--workload', required=True)
  parser.add_argument('--clients', type=int, required=True)
  parser.add_argument('--sizes', default='equal')
  if dump_params:
    parser.add_argument('--dump_params', default='',
                        help='run one round from workloads.initial_params, write the server '
                        'parameters to this .npz and exit')
  return parser


def parse_worker_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
  """The parsed arguments, the workload and sizes checked."""
  import workloads as wl
  args = parser.parse_args()
  wl.check_workload(args.workload)
  wl.check_sizes(args.sizes)
  return args


def claim_stdout() -> TextIO:
  """A private stream on the original stdout; fd 1 then points to stderr."""
  stream = os.fdopen(os.dup(1), 'w', buffering=1)
  sys.stdout.flush()
  os.dup2(2, 1)
  return stream


def emit(stream: TextIO, kind: str, payload: dict[str, Any]) -> None:
  stream.write(f'{PREFIX}{kind} {json.dumps(payload)}\n')
  stream.flush()


def parse(line: str) -> tuple[str, dict[str, Any]] | None:
  """`(kind, payload)` of a protocol line, None for any other output."""
  if not line.startswith(PREFIX):
    return None
  kind, _, payload = line[len(PREFIX):].partition(' ')
  return kind, json.loads(payload)


def serve(run_round: Callable[[], None], info: dict[str, Any], out: TextIO) -> None:
  """Warm up with one round, then per `round` command an untimed and a timed round."""
  run_round()
  emit(out, 'ready', info)
  for line in sys.stdin:
    if line.strip() == 'quit':
      break
    run_round()
    start = time.perf_counter()
    run_round()
    emit(out, 'round', {'seconds': time.perf_counter() - start})
