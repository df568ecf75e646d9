"""Class probabilities from a trained run, or export its global model.

`python scripts/predict.py --workdir=RUN --input=rows.csv` prints, for each
row of the CSV, the probability of each class and the predicted class (CSV
data: the file's header names the feature columns, in any order; other
columns such as the label are ignored; other data: each row holds one
example's values, flattened). `--model=FILE` predicts with an exported model
instead; `--workdir=RUN --export=FILE` writes that file
(`fedjax_sim.export`; `fedjax_sim.load_model(FILE)` reads it back).
"""

import csv
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from fedjax_sim import cli  # noqa: E402
from fedjax_sim.data.csv_data import read_table  # noqa: E402
from fedjax_sim.errors import ConfigError, DataError  # noqa: E402
from fedjax_sim.export import export_model, from_run, load_model, table_inputs  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory (its newest checkpoint).')
_MODEL = flags.DEFINE_string('model', None, 'A model file written by --export.')
_INPUT = flags.DEFINE_string('input', None, 'A CSV file of rows to predict.')
_EXPORT = flags.DEFINE_string('export', None, 'Write the run\'s global model to this file.')


def write_predictions(probabilities: np.ndarray, class_names: tuple[str, ...]) -> None:
  writer = csv.writer(sys.stdout, lineterminator='\n')
  writer.writerow([f'p_{name}' for name in class_names] + ['predicted'])
  for p in probabilities:
    writer.writerow([f'{v:.6f}' for v in p] + [class_names[int(np.argmax(p))]])


def check_export_path(path: str) -> None:
  """A ConfigError unless `path` can be a new file: its directory exists."""
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise ConfigError(f'--export {path!r}: directory {directory!r} does not exist')
  if os.path.isdir(path):
    raise ConfigError(f'--export {path!r} is a directory; give a file name')


def loaded_from(workdir: str, rounds_done: int) -> str:
  """The line naming the checkpoint a prediction used."""
  return (f'predicting with the checkpoint after round {rounds_done}: '
          f'{os.path.join(workdir, "checkpoints", str(rounds_done))}')


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  try:
    if len(argv) > 1:
      raise ConfigError(f'unexpected arguments {argv[1:]} (flags are --name=value)')
    if bool(_WORKDIR.value) == bool(_MODEL.value):
      raise ConfigError('give exactly one of --workdir and --model')
    if _EXPORT.value:
      if not _WORKDIR.value or _INPUT.value:
        raise ConfigError('--export needs --workdir (and no --input)')
      check_export_path(_EXPORT.value)
      exported = export_model(_WORKDIR.value, _EXPORT.value)
      print(f'wrote {_EXPORT.value} (round {exported.rounds_done})')
      return
    if not _INPUT.value:
      raise ConfigError('--input (a CSV file of rows) is required')
    exported = load_model(_MODEL.value) if _MODEL.value else from_run(_WORKDIR.value)
    if _WORKDIR.value:
      print(loaded_from(_WORKDIR.value, exported.rounds_done), file=sys.stderr)
    write_predictions(exported.predict(table_inputs(read_table(_INPUT.value), exported)),
                      exported.class_names)
  except (ConfigError, DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  cli.run(main)
