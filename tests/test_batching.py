"""Client batch plans: each epoch visits every real example exactly once."""

import collections

import jax
import numpy as np
import pytest

from fedjax_sim.data.batching import client_batches, plan_batches


@pytest.mark.parametrize('count', [0, 1, 7, 20, 23])
@pytest.mark.parametrize('epochs', [1, 3])
def test_epochs_visit_every_example_once(count, epochs):
  max_examples, batch = 23, 5
  plan = plan_batches(max_examples, batch, epochs=epochs)
  assert plan.num_steps == -(-epochs * max_examples // batch)
  idx, mask = jax.jit(client_batches, static_argnums=(2, 3))(
      jax.random.PRNGKey(count), count, max_examples, plan)
  idx, mask = np.asarray(idx).ravel(), np.asarray(mask).ravel()
  assert mask.sum() == epochs * count
  assert (idx[~mask] == 0).all()
  stream = idx[mask]
  for e in range(epochs):
    assert sorted(stream[e * count:(e + 1) * count]) == list(range(count))


def test_epochs_are_reshuffled_and_keys_matter():
  plan = plan_batches(50, 10, epochs=2)
  idx, _ = client_batches(jax.random.PRNGKey(0), 50, 50, plan)
  other, _ = client_batches(jax.random.PRNGKey(1), 50, 50, plan)
  idx = np.asarray(idx).ravel()
  assert not np.array_equal(idx[:50], idx[50:])
  assert not np.array_equal(idx, np.asarray(other).ravel())


def test_fixed_steps_cycle_through_data_uniformly():
  plan = plan_batches(40, 4, steps=30)
  assert plan.num_steps == 30 and plan.epochs is None
  idx, mask = client_batches(jax.random.PRNGKey(3), 3, 40, plan)
  assert np.asarray(mask).all()
  counts = collections.Counter(np.asarray(idx).ravel().tolist())
  assert set(counts) == {0, 1, 2} and counts == {0: 40, 1: 40, 2: 40}


def test_fixed_steps_client_without_examples_is_fully_masked():
  idx, mask = client_batches(jax.random.PRNGKey(0), 0, 8, plan_batches(8, 4, steps=5))
  assert not np.asarray(mask).any() and not np.asarray(idx).any()
