"""The pairwise matrix's runs and how each must end (tests/test_pairwise*.py)."""

import math
import re

import pytest

import fedjax_sim
import pairwise
from fedjax_sim.core import refusals
from fedjax_sim.errors import ConfigError
from pairwise import FEATURES, Pair

# The pairs the simulator refuses, each with the row of its error.
REFUSED: dict[Pair, refusals.Refusal] = {
    **{(('algorithm', name), ('fedbuff', '2')): refusals.FEDBUFF_REFUSALS[0]
       for name in ('fedexp', 'fednova')},
    (('deadline', '6'), ('fedbuff', '2')): refusals.FEDBUFF_REFUSALS[1],
    (('aggregator', 'dp'), ('availability', 'iid')): refusals.DP_AVAILABILITY,
    (('aggregator', 'krum'), ('fedbuff', '2')): refusals.KRUM_CLIENTS,
    (('algorithm', 'ditto'), ('personalization', '0')): refusals.DITTO_HELD_OUT,
    (('personalization', '0'), ('client_eval', '0.5')): refusals.CLIENT_EVAL_HELD_OUT,
    (('algorithm', 'ditto'), ('layout', 'lanes')): refusals.LANES_LOOPS,
    **{(('algorithm', name), ('layout', 'lanes')): refusals.LANES_FULL_PASS
       for name in ('mimelite', 'qfedavg')},
}
FORBIDDEN = set(REFUSED)
TRAINING_RUNS = pairwise.covering_array(FEATURES, FORBIDDEN)


def is_message_of(row: refusals.Refusal, text: str) -> bool:
  """Whether `text` is `row`'s error line for some value."""
  suffix = row.message('').split("''", 1)[1]
  return re.fullmatch(re.escape(f'{row.field}=') + r'[^\n]+' + re.escape(suffix),
                      text) is not None


def outcome(run: pairwise.Run) -> str:
  """'trained', or the ConfigError line; any other exception, or a metric
  that is not finite, fails naming the run."""
  try:
    history = fedjax_sim.train(pairwise.config_of(run), log=lambda line: None,
                               progress='none')
  except ConfigError as e:
    return str(e)
  except Exception as e:  # noqa: BLE001 -- any other error is the failure reported
    pytest.fail(f'{pairwise.describe(run)}: {type(e).__name__}: {e}')
  last = history[-1]
  bad = {k: v for k, v in last.items() if isinstance(v, float) and not math.isfinite(v)}
  assert last['round'] == 2 and not bad, f'{pairwise.describe(run)}: {bad or last}'
  return 'trained'


def unexpected_outcomes(runs: list[pairwise.Run]) -> list[str]:
  """The runs of `runs` that did not train, each with what it gave."""
  out = []
  for run in runs:
    result = outcome(run)
    if result != 'trained':
      out.append(f'{pairwise.describe(run)}: {result}')
  return out
