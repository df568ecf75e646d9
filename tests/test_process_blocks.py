"""A population split over two processes (jax.distributed on loopback):
each process holds its block of a client table; the sampled rows, the
checkpoint's global arrays and the joined table equal the whole table."""

import os
import subprocess
import sys

from conftest import xla_flags
from test_multihost import ROOT, free_port

SCRIPT = '''
import sys
import jax
import numpy as np
from fedjax_sim import distributed
from fedjax_sim.run.population import block_of

process, port = int(sys.argv[1]), sys.argv[2]
distributed.initialize(f'127.0.0.1:{port}', 2, process)
whole = {'a': np.arange(7 * 3, dtype=np.float32).reshape(7, 3) - 5.5,
         'b': np.arange(7, dtype=np.int32)[:, None] * 10}
block = block_of(7, process, 2, jax.local_device_count())
assert (block.start, block.stop, block.rows) == ((0, 4, 4), (4, 7, 4))[process], block
mine = jax.tree.map(lambda a: np.zeros((block.rows,) + a.shape[1:], a.dtype), whole)
for k in whole:
  mine[k][:block.stop - block.start] = whole[k][block.start:block.stop]
ids = np.array([6, 0, 3, 4, 4, 1], np.int32)
held = block.holds(ids)
rows = distributed.rows_from_owners(
    jax.tree.map(lambda a: a[ids[held] - block.start], mine), held)
for k in whole:
  assert rows[k].tobytes() == whole[k][ids].tobytes(), (k, rows[k])
  assert distributed.all_blocks(mine, 7)[k].tobytes() == whole[k].tobytes()
back = distributed.local_block(distributed.process_blocks(mine))
assert all(back[k].tobytes() == mine[k].tobytes() and back[k].flags.writeable for k in whole)
print('ok', process)
'''


def test_blocks_over_two_processes_give_the_whole_table():
  port = free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags('--xla_force_host_platform_device_count=2')}
  procs = [subprocess.Popen([sys.executable, '-c', SCRIPT, str(p), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
           for p in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
  assert [out.split()[-2:] for out, _ in outs] == [['ok', '0'], ['ok', '1']]
