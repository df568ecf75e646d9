"""The headline table of `RESULTS.md`: every workload against every peer, one
`compare_peers.py` run (interleaved, medians) per workload, in turn.

  python benchmarks/headline.py [--repeats=5] [--sample_seconds=1] \
      [--systems=fedjax_sim:auto,fedjax,flower,pfl]

Prints each workload's full table as it finishes, then the headline table
with the date, the CPU model and the command; `--out` also writes it there.
"""

from __future__ import annotations

import datetime
import glob
import os
import platform
import re
import subprocess
import sys
from typing import NamedTuple

from absl import flags

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'peers'))

import launch  # noqa: E402


class Row(NamedTuple):
  """One workload of the table: what `compare_peers.py` runs."""

  label: str
  workload: str
  sizes: str
  clients: int


ROWS = (
    Row('Logistic regression, equal', 'logistic', 'equal', 1000),
    Row('Logistic regression, ragged', 'logistic', 'ragged', 1000),
    Row('MLP 784-200-10, equal', 'mlp', 'equal', 100),
    Row('EMNIST CNN, EMNIST-like writers', 'cnn', 'emnist', 50),
    Row('Shakespeare char-LSTM, speakers', 'lstm', 'shakespeare', 20),
)
# Each peer's display name and the package whose installed version names it.
PEERS = {'fedjax': ('FedJAX', 'fedjax'), 'flower': ('Flower', 'flwr'), 'pfl': ('pfl', 'pfl')}

_SYSTEMS = flags.DEFINE_list('systems', ['fedjax_sim:auto', 'fedjax', 'flower', 'pfl'],
                             'Systems; the first is the one the others are compared with.')
_ROWS = flags.DEFINE_list('rows', [r.workload + ':' + r.sizes for r in ROWS],
                          'Workloads to run, as workload:sizes.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed samples per system (median).')
_SAMPLE_SECONDS = flags.DEFINE_float('sample_seconds', 1.0,
                                     "compare_peers.py's --sample_seconds: rounds per sample.")
_OUT = flags.DEFINE_string('out', '', 'Also write the headline table here.')


def cpu_model() -> str:
  """The CPU's model name and the cores this process may use."""
  with open('/proc/cpuinfo') as f:
    names = re.findall(r'^model name\s*:\s*(.*)$', f.read(), re.M)
  return f'{names[0] if names else platform.processor()}, {len(os.sched_getaffinity(0))} cores'


def peer_name(system: str, venvs: str = launch.DEFAULT_VENVS) -> str:
  """A peer's name with the version installed in its venv (`FedJAX 0.0.17`);
  other systems as given."""
  if system not in PEERS:
    return system
  name, package = PEERS[system]
  found = glob.glob(os.path.join(venvs, system, 'lib', 'python*', 'site-packages',
                                 f'{package}-*.dist-info'))
  return f'{name} {os.path.basename(found[0])[len(package) + 1:-len(".dist-info")]}' if found else name


def run_row(row: Row, systems: list[str], repeats: int,
            sample_seconds: float = 1.0) -> tuple[str, dict[str, list[str]]]:
  """`compare_peers.py`'s output for `row` and its table rows by system."""
  command = [sys.executable, os.path.join(HERE, 'compare_peers.py'), f'--workload={row.workload}',
             f'--sizes={row.sizes}', f'--clients={row.clients}', f'--repeats={repeats}',
             f'--sample_seconds={sample_seconds}', f'--systems={",".join(systems)}']
  out = subprocess.run(command, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f'{" ".join(command)} failed:\n{out.stderr[-3000:]}')
  cells = {}
  for line in out.stdout.splitlines():
    parts = [p.strip() for p in line.split('|')[1:-1]]
    if len(parts) == 7 and parts[0] == str(row.clients):
      cells[parts[1]] = parts
  missing = [s for s in systems if s not in cells]
  if missing:  # a changed table format must not make an empty or partial headline
    raise RuntimeError(f'{" ".join(command)} printed no 7-column table row for {missing}:\n'
                       f'{out.stdout[-3000:]}')
  return out.stdout, cells


def headline(results: list[tuple[Row, dict[str, list[str]]]], systems: list[str]) -> str:
  """The markdown table: the first system's client-steps/s and % of peak,
  each other system's client-steps/s and how many times slower it is."""
  first, peers = systems[0], systems[1:]
  lines = [f'| workload | clients/round | {first} steps/s | % peak | '
           + ' | '.join(f'{peer_name(p)} steps/s (slower)' for p in peers) + ' |',
           '|---|---:|---:|---:|' + '---:|' * len(peers)]
  for row, cells in results:
    ours = cells[first]
    peer_cells = [f'{cells[p][3]} ({cells[p][6]})' for p in peers]
    lines.append(f'| {row.label} | {row.clients} | {ours[3]} | {ours[5]} | '
                 + ' | '.join(peer_cells) + ' |')
  return '\n'.join(lines)


def main(argv):
  del argv
  known = {f'{r.workload}:{r.sizes}' for r in ROWS}
  unknown = [r for r in _ROWS.value if r not in known]
  if unknown:
    launch.usage_error(f'--rows: unknown row {unknown[0]!r}; expected some of {sorted(known)}')
  launch.check_sampling(_REPEATS.value, _SAMPLE_SECONDS.value)
  rows = [r for r in ROWS if f'{r.workload}:{r.sizes}' in _ROWS.value]
  results = []
  for row in rows:
    output, cells = run_row(row, _SYSTEMS.value, _REPEATS.value, _SAMPLE_SECONDS.value)
    print(f'## {row.label}\n\n{output}', flush=True)
    results.append((row, cells))
  import jax
  table = headline(results, _SYSTEMS.value)
  text = (f'{datetime.date.today().isoformat()}, {cpu_model()}, jax {jax.__version__}; '
          f'`python benchmarks/headline.py {" ".join(sys.argv[1:])}`\n\n{table}\n')
  print(text)
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  launch.run_app(main)
