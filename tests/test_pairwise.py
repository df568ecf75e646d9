"""Every pair of feature values (tests/pairwise.py) either trains to finite
metrics in some run of a pairwise covering array, or is refused with its row
of docs/refusals.md (fedjax_sim/core/refusals.py). No other exception, ever."""

import os
import re

import pytest

import pairwise
from fedjax_sim.core import refusals
from fedjax_sim.errors import ConfigError
from pairwise import FEATURES
from pairwise_runs import (FORBIDDEN, REFUSED, TRAINING_RUNS, is_message_of, outcome,
                           unexpected_outcomes)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_covering_array_covers_every_allowed_pair_and_no_refused_one():
  """Every allowed pair is in a training run (each of which must train: this
  file and tests/test_pairwise_second_half.py), so the share of pairs that
  train is that of the allowed ones."""
  covered = set().union(*map(pairwise.run_pairs, TRAINING_RUNS))
  assert covered == pairwise.all_pairs(FEATURES) - FORBIDDEN
  assert TRAINING_RUNS == pairwise.covering_array(FEATURES, FORBIDDEN)  # seeded
  share = len(covered) / len(pairwise.all_pairs(FEATURES))
  print(f'pairwise: {len(TRAINING_RUNS)} training runs and {len(REFUSED)} refused, '
        f'{share:.1%} of pairs train')
  assert share >= 0.9


def test_first_half_of_the_runs_train():
  """The even-numbered training runs (the odd ones run in another file, so
  the suite's two workers share the matrix)."""
  unexpected = unexpected_outcomes(TRAINING_RUNS[0::2])
  assert not unexpected, '\n'.join(unexpected)


def test_each_refused_pair_gives_its_documented_line():
  unexpected = []
  for pair in REFUSED:
    run = pairwise.refused_run(TRAINING_RUNS[0], pair, FORBIDDEN)
    rows = [REFUSED[p] for p in pairwise.run_pairs(run) & FORBIDDEN]
    result = outcome(run)
    if not any(is_message_of(r, result) for r in rows):
      unexpected.append(f'{pairwise.describe(run)}: expected the refusal of {pair}, '
                        f'got {result}')
  assert not unexpected, '\n'.join(unexpected)


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
