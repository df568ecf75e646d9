"""Every pair of feature values (tests/pairwise.py) either trains to finite
metrics in some run of a pairwise covering array, or is refused with its row
of docs/refusals.md (fedjax_sim/core/refusals.py). No other exception, ever."""

import math
import os
import re
import time

import pytest

import fedjax_sim
from fedjax_sim.core import refusals
from fedjax_sim.errors import ConfigError
import pairwise
from pairwise import FEATURES, Pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def test_the_covering_array_covers_every_allowed_pair_and_no_refused_one():
  covered = set().union(*map(pairwise.run_pairs, TRAINING_RUNS))
  assert covered == pairwise.all_pairs(FEATURES) - FORBIDDEN
  assert TRAINING_RUNS == pairwise.covering_array(FEATURES, FORBIDDEN)  # seeded


def test_every_pair_trains_or_is_refused_with_its_documented_line():
  start = time.perf_counter()
  trained, unexpected = set(), []
  for run in TRAINING_RUNS:
    result = outcome(run)
    if result == 'trained':
      trained |= pairwise.run_pairs(run)
    else:
      unexpected.append(f'{pairwise.describe(run)}: {result}')
  for pair in REFUSED:
    run = pairwise.refused_run(TRAINING_RUNS[0], pair, FORBIDDEN)
    rows = [REFUSED[p] for p in pairwise.run_pairs(run) & FORBIDDEN]
    result = outcome(run)
    if not any(is_message_of(r, result) for r in rows):
      unexpected.append(f'{pairwise.describe(run)}: expected the refusal of {pair}, '
                        f'got {result}')
  assert not unexpected, '\n'.join(unexpected)
  share = len(trained) / len(pairwise.all_pairs(FEATURES))
  print(f'pairwise: {len(TRAINING_RUNS)} training runs and {len(REFUSED)} refused, '
        f'{share:.1%} of pairs train, {time.perf_counter() - start:.0f} s')
  assert share >= 0.9


def test_docs_refusals_is_the_generated_table():
  with open(os.path.join(ROOT, 'docs', 'refusals.md')) as f:
    assert f.read() == refusals.table()


def test_a_refusal_is_one_line_naming_setting_value_and_expectation():
  text = refusals.FEDBUFF_REFUSALS[1].message(6.)
  assert text.startswith('clock.deadline=6.0 is not supported with fedbuff.buffer_size > 0')
  assert text.endswith('; expected one of [0]') and '\n' not in text
  assert is_message_of(refusals.FEDBUFF_REFUSALS[1], text)
  assert not is_message_of(refusals.FEDBUFF_REFUSALS[2], text)
  with pytest.raises(ConfigError, match=re.escape(text)):
    refusals.refuse(refusals.FEDBUFF_REFUSALS[1], 6.)
  refusals.refuse(refusals.FEDBUFF_REFUSALS[1], 0.)  # accepted: no error
