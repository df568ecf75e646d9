"""Prints docs/refusals.md, the table of refused setting pairs
(`fedjax_sim.core.refusals`): `python scripts/refusal_table.py > docs/refusals.md`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fedjax_sim.core.refusals import table  # noqa: E402

if __name__ == '__main__':
  print(table(), end='')
