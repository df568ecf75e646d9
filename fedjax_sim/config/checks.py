"""Up-front checks of an experiment config: one `ConfigError` naming the field.

`check_config` runs before anything is loaded or compiled. It checks every
number in the config is finite, then the fields every experiment shares (run
length, seed, data split, optimizers, checkpoints, engine). Fields that only
one component reads (an aggregator's, an algorithm's, a model's options) are
checked by that component when it is built, still before the first round.
"""

from __future__ import annotations

import math
from typing import Any

import ml_collections

from fedjax_sim.rundir import runlog
from fedjax_sim.errors import ConfigError
from fedjax_sim.core.rules import Rule, is_int, is_number

NONFINITE_ACTIONS = ('stop', 'drop')
STRAGGLER_MODES = ('partial', 'drop')  # `fedjax_sim.behaviour.stragglers`
MAX_SEED = 2**32 - 1
MAX_ROUNDS = 2**31 - 1  # round numbers reach the device as int32

# (field, accepted, what is expected); a field absent from a config is skipped.
RULES: tuple[Rule, ...] = (
    ('seed', lambda v: is_int(v) and 0 <= v <= MAX_SEED,
     f'an integer in [0, {MAX_SEED}]'),
    ('rounds', lambda v: is_int(v) and 1 <= v <= MAX_ROUNDS,
     f'an integer in [1, {MAX_ROUNDS}] (round numbers are int32 on the device)'),
    ('clients_per_round', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('eval_every', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('eval_clients', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('client_eval_fraction', lambda v: is_number(v) and 0 <= v <= 1, 'a number in [0, 1]'),
    ('centralized', lambda v: isinstance(v, bool), 'true or false'),
    ('stragglers.fraction', lambda v: is_number(v) and 0 <= v <= 1, 'a number in [0, 1]'),
    ('stragglers.mode', lambda v: v in STRAGGLER_MODES, f'one of {list(STRAGGLER_MODES)}'),
    ('dropout.probability', lambda v: is_number(v) and 0 <= v <= 1, 'a number in [0, 1]'),
    ('on_nonfinite', lambda v: v in NONFINITE_ACTIONS,
     f'one of {list(NONFINITE_ACTIONS)}'),
    ('data.num_clients', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('data.seed', lambda v: v is None or (is_int(v) and 0 <= v <= MAX_SEED),
     f'None (the run\'s seed) or an integer in [0, {MAX_SEED}]'),
    ('data.test_fraction', lambda v: is_number(v) and 0 < v < 1,
     'a number in (0, 1) (the share of examples held out for the test set)'),
    ('data.max_client_size', lambda v: is_int(v) and v >= 0,
     'an integer >= 0 (0: no limit)'),
    ('data.min_client_rows', lambda v: is_int(v) and v >= 0,
     'an integer >= 0 (the fewest training rows a csv client may have; 0: no minimum)'),
    ('client.batch_size', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('client.epochs', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('client.steps', lambda v: is_int(v) and v >= 0,
     'an integer >= 0 (0: use client.epochs)'),
    ('client.optimizer.momentum', lambda v: is_number(v) and 0 <= v < 1,
     'a number in [0, 1)'),
    ('server.optimizer.momentum', lambda v: is_number(v) and 0 <= v < 1,
     'a number in [0, 1)'),
    ('checkpoint.every', lambda v: is_int(v) and v >= 0,
     'an integer >= 0 (0: only after the last round)'),
    ('checkpoint.keep', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('engine.chunk_size', lambda v: is_int(v) and v >= 1, 'an integer >= 1'),
    ('engine.shard_clients', lambda v: isinstance(v, bool), 'True or False'),
)


def _lookup(config: ml_collections.ConfigDict, field: str) -> tuple[bool, Any]:
  """`(present, value)` of a dotted field."""
  value: Any = config
  for part in field.split('.'):
    if part not in value:
      return False, None
    value = value[part]
  return True, value


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises `ConfigError` for the first field with a bad value."""
  for field, value in runlog.flatten(config.to_dict()).items():
    if isinstance(value, float) and not math.isfinite(value):
      raise ConfigError(f'{field} must be a finite number, got {value!r}')
  for field, accepted, expected in RULES:
    present, value = _lookup(config, field)
    if present and not accepted(value):
      raise ConfigError(f'{field} must be {expected}, got {value!r}')
