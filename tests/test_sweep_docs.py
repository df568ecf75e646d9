"""The example of docs/sweeps.md runs: a learning-rate grid vmapped over the
pure round equals each member's own run; each member's hypergradient equals
the gradient of its own run, and a central finite difference (h = 0.01) where
the loss is smooth at that scale in float32 (client learning rate <= 0.1;
at 0.3 and server rate 2 the 5-round loss is chaotic and finite differences
of different h disagree in sign)."""

import contextlib
import io
import os
import re

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vmapped_grid_and_per_member_hypergradients():
  with open(os.path.join(ROOT, 'docs', 'sweeps.md')) as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
  scope = {}
  with contextlib.redirect_stdout(io.StringIO()):
    exec(compile(blocks[-1], 'docs/sweeps.md', 'exec'), scope)  # noqa: S102
  one = jax.jit(scope['held_out_loss'])
  grad = jax.jit(jax.grad(scope['held_out_loss'], argnums=(0, 1)))
  client_lr, server_lr = np.asarray(scope['client_lr']), np.asarray(scope['server_lr'])
  losses, grads = np.asarray(scope['losses']), [np.asarray(g) for g in scope['grads']]
  assert len(set(np.round(losses, 4))) == 9  # the members differ
  h = 1e-2
  for m, (c, s) in enumerate(zip(client_lr, server_lr)):
    np.testing.assert_allclose(losses[m], float(one(c, s)), rtol=1e-5)
    np.testing.assert_allclose([grads[0][m], grads[1][m]], grad(c, s), rtol=1e-4, atol=1e-6)
    if c <= 0.1:
      slope_c = (float(one(c + h, s)) - float(one(c - h, s))) / (2 * h)
      slope_s = (float(one(c, s + h)) - float(one(c, s - h))) / (2 * h)
      np.testing.assert_allclose([grads[0][m], grads[1][m]], [slope_c, slope_s],
                                 rtol=0.05, atol=2e-3)
