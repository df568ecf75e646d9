"""The worked example in docs/algorithms.md runs and learns."""

import contextlib
import io
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fedexp_example_trains():
  with open(os.path.join(ROOT, 'docs', 'algorithms.md')) as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
  assert len(blocks) == 1
  scope = {}
  with contextlib.redirect_stdout(io.StringIO()):
    exec(compile(blocks[0], 'docs/algorithms.md', 'exec'), scope)  # noqa: S102
  accuracy = float(scope['fs'].evaluate(scope['model'], scope['state'].server[0],
                                        scope['test'])['accuracy'])
  assert accuracy >= 0.88
