"""`fedjax_sim.train(config)`: a run from a config (the config layer's entry
into the runner, `fedjax_sim.run.loop`)."""

from __future__ import annotations

from typing import Callable

import ml_collections
import tqdm

from fedjax_sim.cli import to_stderr
from fedjax_sim.config.experiment import build_experiment
from fedjax_sim.config.sweep import axes
from fedjax_sim.distributed import is_primary
from fedjax_sim.errors import ConfigError
from fedjax_sim.run.loop import run

PROGRESS = ('bar', 'lines', 'none')


def _quiet(line: str) -> None:
  del line


def train(config: ml_collections.ConfigDict, log: Callable[[str], None] = print, workdir: str | None = None,
          resume: bool = False, progress: str = 'lines') -> list[dict[str, float]]:
  """Runs `config.rounds` rounds; evaluates every `config.eval_every` rounds
  and after the last one. Returns the evaluation history (of this process).

  Args:
    config: the experiment.
    log: receives one line per evaluation (warnings go to stderr); in a
      multi-process run only process 0 prints.
    workdir: if set, the run writes its config, metrics, TensorBoard
      summaries, checkpoints and final report there (`fedjax_sim.rundir.workdir`);
      in a multi-process run every process checkpoints, process 0 logs.
    resume: continue the run in `workdir` from its newest intact checkpoint
      (the result is bit-identical to an uninterrupted run), or extend a
      finished run when only `config.rounds` grew.
    progress: 'bar' (tqdm bar, eval lines above it), 'lines' (eval lines
      only) or 'none' (quiet).

  Raises:
    ConfigError: a bad config or workdir (before any round runs).
    DivergedError: a client update or the server state became non-finite
      (with `config.on_nonfinite='stop'`), or the test loss did.
    Interrupted: SIGINT or SIGTERM arrived; the run stopped after the round
      it was in, checkpointed (with a workdir) and wrote its report. A second
      signal stops at once (KeyboardInterrupt).
  """
  if progress not in PROGRESS:
    raise ConfigError(f'--progress must be one of {list(PROGRESS)}, got {progress!r}')
  if axes(config):
    raise ConfigError(f'config.sweep sweeps {", ".join(axes(config))}: run it with '
                      'fedjax_sim.sweep(config) (scripts/train.py does), or drop config.sweep')
  primary = is_primary()
  say = {'bar': tqdm.tqdm.write, 'lines': log, 'none': _quiet}[progress] if primary else _quiet
  warn = to_stderr if primary else _quiet
  exp = build_experiment(config, say, warn)
  bar = tqdm.tqdm(total=exp.settings.rounds, unit='round', dynamic_ncols=True,
                  disable=progress != 'bar' or not primary)
  return run(exp, say, workdir, resume, bar, warn)
