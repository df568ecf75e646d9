"""The on-disk client-state store: rows written and read back, rolled back
exactly through its journal, and checked against the run's shapes."""

import os

import numpy as np
import pytest

from fedjax_sim import client_state_store
from fedjax_sim.client_state_store import ClientStateStore, open_population
from fedjax_sim.errors import ConfigError, DataError


def one_client():
  return {'w': np.full((3, 2), 0.5, np.float32), 'n': np.zeros((), np.int32)}


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


def test_rollback_returns_every_row_to_its_value_after_a_round(tmp_path):
  rng = np.random.default_rng(0)
  store = ClientStateStore(str(tmp_path), one_client(), 8, fresh=True)
  after = {}
  for r in range(1, 6):  # clients drawn twice in a round's span, and across rounds
    ids = rng.choice(8, 3, replace=False)
    store.write(r, ids, {'w': rng.normal(size=(3, 3, 2)).astype(np.float32),
                         'n': np.full(3, r, np.int32)})
    after[r] = {k: np.array(v) for k, v in store.states.items()}
  store.forget_through(2)
  store.rollback(3)
  for k in after[3]:
    np.testing.assert_array_equal(store.states[k], after[3][k])
  assert sorted(os.listdir(tmp_path / 'journal')) == ['000000003.npz']
  # Reopened (a resumed process), the files hold the rolled-back rows.
  again = ClientStateStore(str(tmp_path), one_client(), 8, fresh=False)
  np.testing.assert_array_equal(again.states['w'], after[3]['w'])


def test_a_store_of_other_shapes_is_one_config_error(tmp_path):
  ClientStateStore(str(tmp_path), one_client(), 8, fresh=True).close()
  with pytest.raises(ConfigError, match=r"leaf-0.npy' holds int32\[8\], not the "
                                        r'int32\[9\] this run keeps'):
    ClientStateStore(str(tmp_path), one_client(), 9, fresh=False)
  os.remove(tmp_path / 'leaf-0.npy')
  with pytest.raises(ConfigError, match='cannot be opened'):
    ClientStateStore(str(tmp_path), one_client(), 8, fresh=False)


def test_a_run_without_a_directory_keeps_no_journal_and_removes_its_store():
  store = open_population(None, one_client(), 4, resumed_after=None)
  store.write(1, np.array([1]), {'w': np.ones((1, 3, 2), np.float32), 'n': np.ones(1, np.int32)})
  assert os.listdir(os.path.join(store.directory, 'journal')) == []
  store.close(remove=True)
  assert not os.path.exists(store.directory)


def test_an_unreadable_journal_entry_is_one_data_error(tmp_path):
  store = ClientStateStore(str(tmp_path), one_client(), 4, fresh=True)
  store.write(1, np.array([2]), {'w': np.ones((1, 3, 2), np.float32), 'n': np.ones(1, np.int32)})
  with open(tmp_path / 'journal' / '000000001.npz', 'wb') as f:
    f.write(b'cut short')
  with pytest.raises(DataError, match=r"journal entry .*000000001.npz' cannot be read "
                                      r'\(\w+: .*\), so the population cannot be '
                                      r'rolled back to round 0; start the run in a new'):
    store.rollback(0)
