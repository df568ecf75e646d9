"""The odd-numbered runs of the pairwise matrix (tests/test_pairwise.py runs
the others): each trains to finite metrics."""

from pairwise_runs import TRAINING_RUNS, unexpected_outcomes


def test_second_half_of_the_runs_train():
  unexpected = unexpected_outcomes(TRAINING_RUNS[1::2])
  assert not unexpected, '\n'.join(unexpected)
