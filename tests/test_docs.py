"""The examples of docs/algorithms.md run, in order in one scope, and learn."""

import contextlib
import io
import os
import re

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fedexp_chain_and_differentiable_examples_run():
  with open(os.path.join(ROOT, 'docs', 'algorithms.md')) as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
  assert len(blocks) == 3
  scope = {}
  with contextlib.redirect_stdout(io.StringIO()):
    for block in blocks:
      exec(compile(block, 'docs/algorithms.md', 'exec'), scope)  # noqa: S102
  fs, model, test = scope['fs'], scope['model'], scope['test']
  assert fs.evaluate(model, scope['state'].server[0], test)['accuracy'] >= 0.88  # FedExP
  assert fs.evaluate(model, scope['robust_state'].server.params, test)['accuracy'] >= 0.8
  assert 'noise_std' in scope['metrics']  # the chain's last stage ran
  # the hypergradient is the loss's slope in the client learning rate
  f = jax.jit(scope['loss_after_rounds'])  # one compilation for both points
  slope = (float(f(0.1 + 1e-2)) - float(f(0.1 - 1e-2))) / 2e-2
  assert float(scope['hypergradient']) < 0 and abs(float(scope['hypergradient']) - slope) < (
      0.05 * abs(slope))
