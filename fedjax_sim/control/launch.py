"""From the control room's form to a training-script command line.

The form names a config file of the configs directory and a few fields to
change (`FIELDS`). The config layer loads the file and applies them as the
command line's overrides would, with the config's own types, and checks the
result (`fedjax_sim.config.overrides`); `preflight` then builds what
`scripts/train.py` builds before its first round, so the form refuses what
the command line refuses before anything is queued. The run starts as
`python <train script> --config=<file> --workdir=<run> --config.<field>=<value> ...`,
and a numeric field given as a list of values adds `--sweep=<field>=<v1>,<v2>`
(`sweep_form`).
"""

from __future__ import annotations

import os
from typing import Any

from fedjax_sim.algorithms.registry import algorithm_module
from fedjax_sim.config.algorithms import build_aggregator
from fedjax_sim.config.checks import MAX_ROUNDS, check_config
from fedjax_sim.config.files import config_docs, load_config_file
from fedjax_sim.config.overrides import Config, apply_overrides, field_values, flag_value
from fedjax_sim.config.sections import from_section
from fedjax_sim.control.jobs import Job
from fedjax_sim.control.safety import Refused, check_name
from fedjax_sim.errors import ConfigError, DataError

# The fields the form may set (dotted), in the order the form shows them.
FIELDS = ('algorithm', 'model.name', 'data.name', 'rounds', 'clients_per_round',
          'eval_every', 'client.optimizer.learning_rate', 'server.optimizer.learning_rate',
          'seed', 'fedprox.mu', 'stragglers.fraction', 'dropout.probability', 'data.label', 'data.features', 'data.client_column',
          'data.partition', 'data.num_clients', 'data.alpha')
# Data sets small enough to load in the server before a run is queued; the
# others (SQLite benchmarks, TFDS) are loaded by the run itself.
IN_MEMORY = ('digits', 'synthetic', 'csv')


def config_catalog(configs_dir: str) -> list[dict[str, str]]:
  """Each config file's `name` and `doc` (its docstring), read without importing."""
  return [{'name': name, 'doc': doc} for name, doc in config_docs(configs_dir)]


def load_config(configs_dir: str, name: str) -> Config:
  """`get_config()` of config file `name` in `configs_dir`; Refused if it is
  not one or fails."""
  try:
    return load_config_file(configs_dir, name)
  except ConfigError as e:
    raise Refused(str(e)) from None


def form_fields(config: Config) -> dict[str, Any]:
  """The form's fields that `config` has, with its values."""
  return field_values(config, FIELDS)


def resolve(configs_dir: str, name: str, overrides: dict[str, Any]
            ) -> tuple[Config, dict[str, Any]]:
  """The config file `name` with `overrides` (form fields only) applied and
  checked, and the overrides in the config's own types."""
  config = load_config(configs_dir, name)
  for field in overrides:
    if field not in FIELDS:
      raise Refused(f'{field}: the form sets only {", ".join(FIELDS)}')
  try:
    return config, apply_overrides(config, overrides)
  except ConfigError as e:
    raise Refused(str(e)) from None


def preflight(config: Config) -> None:
  """Refused with the command line's own one line if `scripts/train.py`
  would refuse `config` before its first round. Data held in memory is
  loaded and the whole experiment built as the script builds it
  (`build_experiment`: data, clients per round against the clients, model,
  algorithm, aggregator, behaviour); for other data, the config's checks
  and the algorithm and aggregator sections. Nothing is compiled."""
  from fedjax_sim.config.experiment import build_experiment  # lazy: imports jax
  quiet = lambda message: None  # noqa: E731
  try:
    if config.data.get('name') in IN_MEMORY:
      build_experiment(config.copy_and_resolve_references(), log=quiet, warn=quiet)
    else:
      check_config(config)
      from_section(config, config.algorithm, algorithm_module(config.algorithm).Settings)
      build_aggregator(config)
  except (ConfigError, DataError) as e:
    path = config.data.get('path') or ''
    message = str(e).replace(path, os.path.basename(path)) if path else str(e)
    raise Refused(message) from None


def extension_rounds(value: Any, current: int) -> int:
  """`value` if it is a valid new length for a run of `current` rounds: an
  integer in [current + 1, MAX_ROUNDS], the command line's rule for
  `rounds` on resume; else Refused naming the range."""
  if not isinstance(value, int) or isinstance(value, bool) or not (
      current < value <= MAX_ROUNDS):
    raise Refused(f'rounds={value!r}: expected an integer in [{current + 1}, {MAX_ROUNDS}] '
                  f"(more than the run's {current} rounds; round numbers are int32 on "
                  'the device)')
  return value


def command(job: Job, python: str, train_script: str, configs_dir: str,
            runs_dir: str) -> list[str]:
  """The training script's argv for `job`."""
  argv = [python, train_script, f'--config={os.path.join(configs_dir, job.config_file)}',
          f'--workdir={os.path.join(runs_dir, check_name("name", job.name))}',
          '--progress=lines']
  argv += [f'--config.{k}={flag_value(v)}' for k, v in job.overrides.items()]
  argv += [f'--sweep={k}={",".join(flag_value(v) for v in vs)}' for k, vs in job.sweep.items()]
  return argv + (['--resume'] if job.resume else [])
