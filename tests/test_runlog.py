"""Run-directory I/O: JSON lines survive partial writes, atomic writes, run discovery."""

import json
import os

import numpy as np
import pytest

from fedjax_sim.rundir import runlog


def test_append_then_read_round_trips_numpy_scalars(tmp_path):
  path = str(tmp_path / 'metrics.jsonl')
  runlog.append_jsonl(path, {'round': 1, 'loss': np.float32(0.5)})
  runlog.append_jsonl(path, {'round': np.int64(2), 'norms': np.array([1.0, 2.5])})
  with open(path) as f:
    assert f.read() == ('{"round": 1, "loss": 0.5}\n'
                        '{"round": 2, "norms": [1.0, 2.5]}\n')
  assert runlog.read_jsonl(path) == [{'round': 1, 'loss': 0.5},
                                     {'round': 2, 'norms': [1.0, 2.5]}]


def test_missing_file_reads_as_no_records(tmp_path):
  assert runlog.read_jsonl(str(tmp_path / 'absent.jsonl')) == []


def test_partial_last_line_is_ignored_and_next_append_is_intact(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"round": 1}\n{"round": 2}\n{"round": 3, "accur')
  assert runlog.read_jsonl(str(path)) == [{'round': 1}, {'round': 2}]
  # A writer restarted after the crash: the cut line stays unreadable, the new one is read.
  runlog.append_jsonl(str(path), {'round': 4})
  assert runlog.read_jsonl(str(path)) == [{'round': 1}, {'round': 2}, {'round': 4}]


def test_complete_line_without_newline_counts_as_partial(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"round": 1}\n{"round": 2}')
  assert runlog.read_jsonl(str(path)) == [{'round': 1}]


def test_write_json_atomic_replaces_and_leaves_no_temp_file(tmp_path):
  path = str(tmp_path / 'config.json')
  runlog.write_json_atomic(path, {'rounds': 3})
  runlog.write_json_atomic(path, {'rounds': 5, 'client': {'lr': 0.1}})
  assert os.listdir(tmp_path) == ['config.json']
  with open(path) as f:
    assert json.load(f) == {'rounds': 5, 'client': {'lr': 0.1}}
  assert runlog.read_json(path) == {'rounds': 5, 'client': {'lr': 0.1}}
  assert runlog.read_json(str(tmp_path / 'absent.json')) is None


def test_failed_atomic_write_keeps_old_file_and_removes_temp(tmp_path):
  path = str(tmp_path / 'report.html')
  runlog.write_atomic(path, 'old')
  with pytest.raises(TypeError):
    runlog.write_atomic(path, 123)  # Fails after the temp file was created.
  assert os.listdir(tmp_path) == ['report.html']
  with open(path) as f:
    assert f.read() == 'old'


def test_find_runs_returns_root_and_depth_one_runs(tmp_path):
  for run in ('b', 'a', 'a/nested', 'c'):
    os.makedirs(tmp_path / run)
  for run in ('.', 'b', 'a', 'a/nested'):
    (tmp_path / run / 'metrics.jsonl').write_text('')
  (tmp_path / 'c' / 'config.json').write_text('{}')  # No metrics: not a run.
  (tmp_path / 'd.txt').write_text('')
  root = str(tmp_path)
  assert runlog.find_runs(root) == [root, os.path.join(root, 'a'), os.path.join(root, 'b')]
  assert runlog.find_runs(os.path.join(root, 'c')) == []
