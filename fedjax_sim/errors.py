"""The errors fedjax_sim raises for bad input: one clear message each."""


class ConfigError(ValueError):
  """A configuration field has a bad value; the message names the field."""


class DataError(ValueError):
  """A data set is malformed; the message names the data set and the client."""


class DivergedError(RuntimeError):
  """Training produced non-finite values; the message names the round, the
  first offending clients and the last good checkpoint."""


class Interrupted(Exception):
  """The run was stopped (SIGINT / SIGTERM) at a round boundary, after its
  state was checkpointed and its report written."""

  def __init__(self, rounds_done: int, workdir: str | None):
    self.rounds_done, self.workdir = rounds_done, workdir
    resume = '; continue with --resume' if workdir else ''
    super().__init__(f'interrupted after round {rounds_done}{resume}')


class NothingTrainedError(DivergedError):
  """No client reported in any round of the run, so the model is as it
  started: a failed run (exit 1), not a success. `history` holds its
  evaluations, as `fedjax_sim.train` would have returned them."""

  def __init__(self, message: str, history: list):
    super().__init__(message)
    self.history = history


class RunFileError(ConfigError):
  """A run file cannot be written (a read-only directory, a full disk): bad
  ground to run on, exit 2 like other bad input. The message names the path
  and what to do (`fedjax_sim.rundir.write_errors`)."""
