"""The training loop: a run is its schedule, population and record
(`fedjax_sim.run.schedule`, `.population`, `.record`) around the round
program (`fedjax_sim.train(config)` builds them from a config: `fedjax_sim.config.train`)."""

from __future__ import annotations

import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import tqdm

from fedjax_sim.cli import to_stderr
from fedjax_sim.distributed import any_process
from fedjax_sim.run.divergence import LaggedCheck, LossWatch, silent_warning
from fedjax_sim.errors import Interrupted, NothingTrainedError, RunFileError
from fedjax_sim.run.evaluation import format_evals, round_evals
from fedjax_sim.run.experiment import Experiment
from fedjax_sim.run.population import run_round
from fedjax_sim.run.record import NoRecord, RunDirectory
from fedjax_sim.run.schedule import sample_and_round_keys
from fedjax_sim.run.stop_signals import StopSignals

Say = Callable[[str], None]


class Pace:
  """Rounds per second between evaluations (the first includes compiling)."""

  def __init__(self, rounds_done: int):
    self.start, self.rounds_done = time.perf_counter(), rounds_done

  def lap(self, rounds_done: int) -> float:
    now = time.perf_counter()
    rate = (rounds_done - self.rounds_done) / (now - self.start)
    self.start, self.rounds_done = now, rounds_done
    return rate


def run(exp: Experiment, say: Say, workdir: str | None, resume: bool,
        bar: tqdm.tqdm, warn: Say = to_stderr) -> list[dict[str, float]]:
  """Runs `exp` (see `fedjax_sim.config.train.train`); `say` receives the
  eval lines, `warn` the warnings, `bar` counts rounds. The run's directory
  is locked until it returns or raises."""
  record = (RunDirectory(workdir, exp.config_json, resume, exp.settings.checkpoint_keep,
                         exp.dataset.client_names, to_stderr) if workdir else NoRecord())
  try:
    return _rounds(exp, say, workdir, record, bar, warn)
  finally:
    record.release()


def _rounds(exp: Experiment, say: Say, workdir: str | None, record: NoRecord | RunDirectory,
            bar: tqdm.tqdm, warn: Say) -> list[dict[str, float]]:
  """The run's rounds on its opened `record`."""
  s, algorithm = exp.settings, exp.algorithm
  population = exp.population(record.population_dir)
  params = exp.model.init(jax.random.PRNGKey(s.seed), jnp.asarray(exp.dataset.test['x'][:1]))
  fresh = population.init(algorithm.init(params), algorithm.client_init(params),
                          algorithm.aggregator.init())
  first_round, restored = record.restore(population.checkpoint(fresh))
  if first_round >= s.rounds:
    bar.close()
    say(f'{workdir} is complete: {first_round} of {s.rounds} rounds done; '
        'to extend it, --resume with a larger --config.rounds')
    return []
  bar.update(first_round)
  state = population.restore(fresh if restored is None else restored, first_round or None)
  carry, checks, history = exp.schedule.start(first_round), LaggedCheck(
      s.on_nonfinite, record.dropped_before), []
  watch = LossWatch(s.divergence, exp.dataset.num_classes, warn)
  with StopSignals() as stop:  # from here a stop signal ends the run after a round
    if first_round:
      say(f'resumed {workdir} after round {first_round}')
    pace = Pace(first_round)
    try:
      for r in range(first_round, s.rounds):
        sample_key, round_key = sample_and_round_keys(s.seed, r)
        scheduled, carry = exp.schedule.next(carry, state.server, sample_key)
        state, metrics = run_round(population, exp.round_fn, state, scheduled.ids, round_key,
                                   scheduled.behaviour, r + 1, exp.place)
        due_eval = (r + 1) % s.eval_every == 0 or r + 1 == s.rounds
        # Rounds that record (and so checkpoint) or evaluate are checked now;
        # others once the next round is queued, so the host never waits.
        checks.add(metrics, scheduled.ids, r + 1, record.saved, now=bool(workdir) or due_eval)
        bar.update(1)
        fields = lambda: scheduled.fields(state.server)  # noqa: E731
        record.round(r + 1, metrics, scheduled.ids, fields)
        if due_eval:
          silent = checks.take_silent()
          if silent:
            warn(silent_warning(silent))
          evals, clients = round_evals(exp, state, r, metrics, lambda: pace.lap(r + 1),
                                       fields(), record.saved.describe(),
                                       lambda: population.every_client(state))
          if s.on_nonfinite == 'drop':
            evals['dropped_clients'] = float(checks.dropped)
          history.append(evals)
          say(format_evals(evals))
          bar.set_postfix(test_accuracy=f"{evals['test_accuracy']:.4f}")
          record.evals(evals, clients)
          watch.see(r + 1, evals['test_loss'], record.saved)
        stopping = any_process(stop.requested)  # read once: a stop checkpoints, then ends
        every = s.checkpoint_every
        if (every and (r + 1) % every == 0) or r + 1 == s.rounds or stopping:
          record.checkpoint(r + 1, population, state)  # its round was checked
        if stopping and r + 1 < s.rounds:
          checks.flush()
          raise Interrupted(r + 1, workdir)
      untrained = checks.finish(warn)
      if untrained:
        raise NothingTrainedError(untrained, history)
    finally:
      bar.close()
      population.close()
      if isinstance(sys.exc_info()[1], RunFileError):
        try:  # the disk already failed: the first failure names the file
          record.close()
        except RunFileError:
          pass
      else:
        record.close()
  return history
