"""The on-disk client-state store: rows written and read back, rolled back
exactly through its journal (also after a rollback cut short), and checked
against the run's shapes and its own files."""

import os

import numpy as np
import pytest

from fedjax_sim.run import disk_states as client_state_store
from fedjax_sim.run.disk_states import ClientStateStore, open_population
from fedjax_sim.errors import ConfigError, DataError


def one_client():
  return {'w': np.full((3, 2), 0.5, np.float32), 'n': np.zeros((), np.int32)}


def snapshot(store):
  return {k: np.array(v) for k, v in store.states.items()}


def assert_rows(store, want):
  for k in want:
    np.testing.assert_array_equal(store.states[k], want[k])


def run_rounds(store, rng, rounds):
  """Writes random new rows of 3 of 8 clients for each round in `rounds`."""
  for r in rounds:
    ids = rng.choice(8, 3, replace=False)
    store.write(r, ids, {'w': rng.normal(size=(3, 3, 2)).astype(np.float32),
                         'n': np.full(3, r, np.int32)})


def test_a_new_store_holds_the_initial_state_in_every_row(tmp_path, monkeypatch):
  monkeypatch.setattr(client_state_store, 'FILL_ROWS', 4)  # several fill chunks
  store = ClientStateStore(str(tmp_path), one_client(), 10, fresh=True)
  np.testing.assert_array_equal(store.states['w'], np.full((10, 3, 2), 0.5, np.float32))
  np.testing.assert_array_equal(store.states['n'], np.zeros(10, np.int32))
  assert store.states['w'].dtype == np.float32 and store.states['n'].dtype == np.int32
  rows = store.gather(np.array([7, 2]))
  assert rows['w'].shape == (2, 3, 2) and not isinstance(rows['w'], np.memmap)
  rows['w'][:] = 9.  # a copy: the store is written only through `write`
  assert store.states['w'].max() == 0.5
  negative_zero = ClientStateStore(str(tmp_path / 'z'), {'v': np.float32(-0.)}, 3, fresh=True)
  assert np.signbit(negative_zero.states['v']).all()  # bit for bit the initial state


def test_rollback_returns_every_row_to_its_value_at_each_kept_checkpoint(tmp_path):
  rng = np.random.default_rng(0)
  store = ClientStateStore(str(tmp_path), one_client(), 8, fresh=True)
  run_rounds(store, rng, (1, 2))
  assert os.listdir(tmp_path / 'journal') == []  # no checkpoint yet: nothing to roll back to
  store.checkpointed(2)  # checkpoint after round 2
  at_2 = snapshot(store)
  run_rounds(store, rng, (3, 4))
  store.checkpointed(2)  # checkpoint after round 4; 2 is still kept
  at_4 = snapshot(store)
  run_rounds(store, rng, (5, 6))
  # Each interval journals a client's row once: its value at the checkpoint.
  with np.load(tmp_path / 'journal' / '000000004.npz') as four, \
       np.load(tmp_path / 'journal' / '000000003.npz') as three:
    assert not set(four['ids']) & set(three['ids'])
  store.rollback(4)
  assert_rows(store, at_4)
  assert sorted(os.listdir(tmp_path / 'journal')) == ['000000003.npz', '000000004.npz']
  # Reopened (a resumed process whose newest checkpoint turned out corrupt).
  again = ClientStateStore(str(tmp_path), one_client(), 8, fresh=False, journal=True)
  again.rollback(2)
  assert_rows(again, at_2)
  assert os.listdir(tmp_path / 'journal') == []


def test_a_rollback_cut_short_is_finished_by_the_next(tmp_path, monkeypatch):
  rng = np.random.default_rng(1)
  store = ClientStateStore(str(tmp_path), one_client(), 8, fresh=True, journal=True)
  at_0 = snapshot(store)
  run_rounds(store, rng, (1, 2, 3, 4))
  removed = []

  def remove_once(path):  # killed after deleting one entry
    if not str(path).startswith(str(tmp_path)):  # os.remove is everyone's (finalizers)
      return os.unlink(path)
    if removed:
      raise KeyboardInterrupt
    removed.append(path)
    os.unlink(path)
  monkeypatch.setattr(client_state_store.os, 'remove', remove_once)
  with pytest.raises(KeyboardInterrupt):
    store.rollback(0)
  monkeypatch.undo()
  assert removed == [str(tmp_path / 'journal' / '000000004.npz')]  # newest first
  store.rollback(0)
  assert_rows(store, at_0)


def test_a_gap_in_the_journal_is_one_data_error(tmp_path):
  store = ClientStateStore(str(tmp_path), one_client(), 8, fresh=True, journal=True)
  run_rounds(store, np.random.default_rng(2), (1, 2, 3))
  os.remove(tmp_path / 'journal' / '000000002.npz')
  with pytest.raises(DataError, match=r"lacks entries between round 0 and 3 \(it holds "
                                      r'\[1, 3\]\), so the population cannot be rolled back'):
    store.rollback(0)


def test_an_unreadable_journal_entry_is_one_data_error(tmp_path):
  store = ClientStateStore(str(tmp_path), one_client(), 4, fresh=True, journal=True)
  store.write(1, np.array([2]), {'w': np.ones((1, 3, 2), np.float32), 'n': np.ones(1, np.int32)})
  with open(tmp_path / 'journal' / '000000001.npz', 'wb') as f:
    f.write(b'cut short')
  with pytest.raises(DataError, match=r"journal entry .*000000001.npz' cannot be read "
                                      r'\(\w+: .*\), so the population cannot be '
                                      r'rolled back to round 0; start the run in a new'):
    store.rollback(0)


def test_store_files_of_other_shapes_or_cut_short_are_one_config_error(tmp_path):
  ClientStateStore(str(tmp_path), one_client(), 8, fresh=True).close()
  with pytest.raises(ConfigError, match=r"leaf-0.npy' holds int32\[8\], not the "
                                        r'int32\[9\] this run keeps'):
    ClientStateStore(str(tmp_path), one_client(), 9, fresh=False)
  path = tmp_path / 'leaf-1.npy'
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.truncate(size - 8)
  with pytest.raises(ConfigError, match=rf"leaf-1.npy' cannot be opened \({size - 8} bytes "
                                        rf'where its header needs {size}\)'):
    ClientStateStore(str(tmp_path), one_client(), 8, fresh=False)
  assert os.path.getsize(path) == size - 8  # not extended with zeros
  os.remove(tmp_path / 'leaf-0.npy')
  with pytest.raises(ConfigError, match='cannot be opened'):
    ClientStateStore(str(tmp_path), one_client(), 8, fresh=False)


def test_a_run_without_a_directory_keeps_no_journal_and_removes_its_store(tmp_path, monkeypatch):
  store = open_population(None, one_client(), 4, resumed_after=None)
  store.write(1, np.array([1]), {'w': np.ones((1, 3, 2), np.float32), 'n': np.ones(1, np.int32)})
  assert os.listdir(os.path.join(store.directory, 'journal')) == []
  store.close(remove=True)
  assert not os.path.exists(store.directory)
  # A Ctrl-C while a new temporary store is filled leaves nothing behind.
  monkeypatch.setattr(client_state_store.tempfile, 'mkdtemp', lambda prefix: str(tmp_path / 't'))
  monkeypatch.setattr(client_state_store, '_filled', lambda *a: (_ for _ in ()).throw(
      KeyboardInterrupt()))
  with pytest.raises(KeyboardInterrupt):
    open_population('', one_client(), 4, resumed_after=None)
  assert not os.path.exists(tmp_path / 't')
