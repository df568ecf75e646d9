"""The experiment config files of a `configs/` directory."""

from __future__ import annotations

import ast
import os


def config_docs(directory: str) -> list[tuple[str, str]]:
  """`(file name, docstring)` of each config file in `directory`, sorted, read
  without importing it."""
  out = []
  for name in sorted(os.listdir(directory)):
    if name.endswith('.py') and not name.startswith('_'):
      with open(os.path.join(directory, name)) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ''
      out.append((name, doc.strip()))
  return out
