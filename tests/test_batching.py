"""Client batch plans: each epoch visits every real example exactly once."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from fedjax_sim.data.batching import client_batches, plan_batches, real_steps
from fedjax_sim.data.permutation import permute, seed_of


@pytest.mark.parametrize('count', [0, 1, 7, 20, 23])
@pytest.mark.parametrize('epochs', [1, 3])
def test_epochs_visit_every_example_once(count, epochs):
  max_examples, batch = 23, 5
  plan = plan_batches(max_examples, batch, epochs=epochs)
  assert plan.num_steps == -(-epochs * max_examples // batch)
  idx, mask = jax.jit(client_batches, static_argnums=2)(
      jax.random.PRNGKey(count), count, plan)
  idx, mask = np.asarray(idx).ravel(), np.asarray(mask).ravel()
  assert mask.sum() == epochs * count
  assert (idx[~mask] == 0).all()
  stream = idx[mask]
  for e in range(epochs):
    assert sorted(stream[e * count:(e + 1) * count]) == list(range(count))


def test_epochs_are_reshuffled_and_keys_matter():
  plan = plan_batches(50, 10, epochs=2)
  idx, _ = client_batches(jax.random.PRNGKey(0), 50, plan)
  other, _ = client_batches(jax.random.PRNGKey(1), 50, plan)
  idx = np.asarray(idx).ravel()
  assert not np.array_equal(idx[:50], idx[50:])
  assert not np.array_equal(idx, np.asarray(other).ravel())


def test_fixed_steps_cycle_through_data_uniformly():
  plan = plan_batches(40, 4, steps=30)
  assert plan.num_steps == 30 and plan.epochs is None
  idx, mask = client_batches(jax.random.PRNGKey(3), 3, plan)
  assert np.asarray(mask).all()
  counts = collections.Counter(np.asarray(idx).ravel().tolist())
  assert set(counts) == {0, 1, 2} and counts == {0: 40, 1: 40, 2: 40}


def test_fixed_steps_client_without_examples_is_fully_masked():
  idx, mask = client_batches(jax.random.PRNGKey(0), 0, plan_batches(8, 4, steps=5))
  assert not np.asarray(mask).any() and not np.asarray(idx).any()


def test_stream_inside_one_epoch_is_a_uniform_random_subset():
  # 4 steps of 5 from clients of 20..30 examples: one pass, no repeats, and
  # over many keys every example is equally likely at every position.
  plan = plan_batches(30, 5, steps=4)
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  idx, mask = jax.jit(jax.vmap(lambda k: client_batches(k, 25, plan)))(keys)
  idx = np.asarray(idx).reshape(4000, 20)
  assert np.asarray(mask).all()
  assert all(len(set(row)) == 20 for row in idx) and idx.max() < 25
  freq = np.stack([np.bincount(idx[:, p], minlength=25) for p in (0, 19)]) / 4000
  np.testing.assert_allclose(freq, 1 / 25, atol=0.015)


@pytest.mark.parametrize('count', [0, 3, 19, 20, 30])
def test_vmapped_batches_equal_one_client_at_a_time(count):
  plan = plan_batches(30, 5, steps=4)
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  counts = np.array([count, 30, 2])
  together = jax.vmap(lambda k, c: client_batches(k, c, plan))(keys, counts)
  for c in range(3):
    alone = client_batches(keys[c], counts[c], plan)
    for a, b in zip(alone, together):
      np.testing.assert_array_equal(a, b[c])


@pytest.mark.parametrize('n', [1, 2, 3, 7, 64, 100, 1201])
def test_permutation_is_exact_for_every_size(n):
  seeds = jax.vmap(seed_of)(jax.random.split(jax.random.PRNGKey(n), 5))
  images = np.asarray(jax.vmap(lambda s: permute(s, jnp.arange(n), n))(seeds))
  for row in images:
    np.testing.assert_array_equal(np.sort(row), np.arange(n))
  if n > 3:
    assert len({tuple(row) for row in images}) == 5  # seeds give other orders


@pytest.mark.parametrize('n', [8, 25])
def test_permutation_is_uniform_over_positions_and_pairs(n):
  # Over many seeds, every example is equally likely at every position, and
  # the pair at positions (0, 1) is uniform over ordered pairs (chi-square;
  # with 8 instead of 12 rounds both fail at p < 1e-3).
  seeds = jax.vmap(seed_of)(jax.random.split(jax.random.PRNGKey(0), 40000))
  images = np.asarray(jax.jit(jax.vmap(lambda s: permute(s, jnp.arange(n), n)))(seeds))
  positions = np.stack([np.bincount(images[:, p], minlength=n) for p in range(n)])
  assert scipy.stats.chisquare(positions.ravel()).pvalue > 1e-3
  pairs = np.zeros((n, n))
  np.add.at(pairs, (images[:, 0], images[:, 1]), 1)
  assert scipy.stats.chisquare(pairs[~np.eye(n, dtype=bool)]).pvalue > 1e-3


@pytest.mark.parametrize('epochs,steps', [(1, 0), (3, 0), (1, 4)])
def test_real_steps_are_the_steps_with_real_examples(epochs, steps):
  plan = plan_batches(23, 5, epochs=epochs, steps=steps)
  for count in (0, 1, 5, 6, 23):
    _, mask = client_batches(jax.random.PRNGKey(count), count, plan)
    has_real = np.asarray(mask).any(axis=1)
    want = int(real_steps(count, plan))
    assert has_real[:want].all() and not has_real[want:].any()
