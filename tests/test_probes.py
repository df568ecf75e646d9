"""Every reliability probe (`tests/probes.py`) gets one clear line and the
right exit code: no traceback, no silent wrong result, no lost data; and
`docs/reliability.md` lists exactly these probes."""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIVERGED = (r"error: round 1: non-finite update from client\(s\) \[[\d, ]+\] \(10 of 10 "
            r"sampled\); {}; lower the learning rates, or set on_nonfinite='drop' to drop "
            r"such clients")
ROUND_2 = r'round +2 +test_accuracy 0\.\d+ .*'

NO_REPORT = (r'warning: round {}: no client reported; the model did not change '
             r'\(train_loss 0: there is no loss\)')

# name: (exit code, the one stderr line (empty: none; a tuple: its lines), the last eval
# (its lines joined) when the pattern starts with 'round', else the last stdout line)
EXPECTED = {
    'learning rate inf': (2, r'error: client\.optimizer\.learning_rate must be a finite '
                          r'number, got inf', ''),
    'learning rate 1e30': (1, DIVERGED.format(r'no checkpoint \(run without --workdir\)'),
                           'engine: .*'),
    'learning rate 1e30 with a workdir': (
        1, DIVERGED.format(r'no checkpoint in .*/diverged yet'), 'engine: .*'),
    # Every client of both rounds dropped: a warning per round, then exit 1.
    'learning rate 1e30, on_nonfinite=drop': (1, (
        NO_REPORT.format(1), NO_REPORT.format(2),
        r'error: no client reported in any of the 2 round\(s\) run, so the model did not '
        r'train \(20 client update\(s\) were dropped as non-finite: lower the learning '
        r'rates\)'), ROUND_2 + r'dropped_clients 20( .*)?'),
    'data.test_fraction=-0.1': (2, r'error: data\.test_fraction must be a number in \(0, 1\) '
                                r'.*, got -0\.1', ''),
    'data.test_fraction=0': (2, r'error: data\.test_fraction must be .*, got 0\.0', ''),
    'data.test_fraction=1': (2, r'error: data\.test_fraction must be .*, got 1\.0', ''),
    'checkpoint.every=-1': (2, r'error: checkpoint\.every must be an integer >= 0 .*, got -1',
                            ''),
    'seed=-1': (2, r'error: seed must be an integer in \[0, 4294967295\], got -1', ''),
    'synthetic max_client_size=-5': (2, r'error: data\.max_client_size must be an integer >= 0 '
                                     r'\(0: no limit\), got -5', ''),
    # The one round sampled only empty clients.
    'data.num_clients=5000 on digits': (1, (
        r'warning: \d+ of 5000 clients have no training data .*', NO_REPORT.format(1),
        r'error: no client reported in any of the 1 round\(s\) run, so the model did not '
        r'train .*'), ''),
    'clients_per_round above the clients': (
        2, r'error: clients_per_round=50 exceeds data\.num_clients=20', ''),
    'unknown model name': (2, r"error: model\.name must be one of \[.*'mlp'.*\], got 'vgg'", ''),
    'availability trace with a bad row': (
        2, r"error: availability\.trace_file='.*/trace\.csv', line 3: end must be > start, "
        r"got start=7200, end=3600", ''),
    'CSV with a missing value': (2, r"error: .*/bad\.csv: row 3, column 'weight': missing "
                                 r"value", ''),
    '--help': (0, '', r'.+'),
    '--list=algorithms': (0, '', 'scaffold'),
    '--print_config with a bad field': (2, r'error: seed must be an integer in \[0, 4294967295\], '
                                        r'got -3', '}'),
    'missing --config file': (2, r"error: --config file 'configs/nope\.py' does not exist", ''),
    'config argument not accepted': (2, r"error: --config=.*/fedprox\.py:synth: config "
                                     r"argument must be one of \('digits', 'synthetic'\), "
                                     r"got 'synth'", ''),
    'config file: raises': (2, r'error: --config=.*/raises\.py: get_config\(\) raised '
                            r'ZeroDivisionError: division by zero', ''),
    'config file: syntax': (2, r'error: --config=.*/syntax\.py: cannot be loaded: SyntaxError: '
                            r'.*line 1\)', ''),
    'config file: imports': (2, r"error: --config=.*/imports\.py: cannot be loaded: "
                             r"ModuleNotFoundError: No module named 'no_such_module'", ''),
    'config file: dict': (2, r'error: --config=.*/dict\.py: get_config\(\) must return an '
                          r'ml_collections\.ConfigDict, got dict', ''),
    'config file: none': (2, r'error: --config=.*/none\.py: get_config\(\) must return an '
                          r'ml_collections\.ConfigDict, got NoneType', ''),
    'config file: no_get_config': (2, r'error: --config=.*/no_get_config\.py: the file has no '
                                   r'get_config\(\) function', ''),
    'config file: no_client': (2, r"error: --config=.*/no_client\.py: the config has no "
                               r"'client', which every experiment needs .*", ''),
    'mlp hidden=(0,)': (2, r'error: model\.options\.hidden must be a sequence of integers '
                        r'>= 1 .*, got \(0,\)', ''),
    'mlp hidden=(-5,)': (2, r'error: model\.options\.hidden must be .*, got \(-5,\)', ''),
    'empty --workdir': (2, r"error: --workdir=: must name a directory, got an empty value "
                        r"\(an unset shell variable\?\); leave --workdir out to write nothing", ''),
    'blank --workdir': (2, r"error: --workdir=: must name a directory, got a blank value "
                        r"' ' \(only spaces\); leave --workdir out to write nothing", ''),
    '--num_processes=0': (2, r'error: --num_processes=0: 0 is not a positive integer', ''),
    'data.min_client_rows=-3': (2, r'error: data\.min_client_rows must be an integer >= 0 '
                                r'.*, got -3', ''),
    'rounds=10^12': (2, r'error: rounds must be an integer in \[1, 2147483647\] \(round '
                     r'numbers are int32 on the device\), got 1000000000000', ''),
    'extra positional argument': (2, r"error: unexpected arguments \['extra'\] .*", ''),
    'misspelled field': (2, r"error: --config override names a field the config does not "
                         r"have: 'clients_pr_round'; Did you mean \"clients_per_round\" "
                         r"instead of \"clients_pr_round\"\?", ''),
    'bad flag value': (2, r"error: --config\.rounds=abc: invalid literal for int\(\) .*", ''),
    'read-only workdir': (2, r"error: --workdir '/sys/fedjax_sim_run' cannot be written: .*",
                          ''),
    '--resume without --workdir': (2, r'error: --resume needs --workdir', ''),
    '--resume on a mistyped workdir': (2, r"error: --resume: --workdir '.*/no_such_run' holds "
                                       r"no run to resume .*", ''),
    'finished run': (0, '', ROUND_2),
    'same workdir again, no --resume': (2, r"error: --workdir '.*/run' already holds this "
                                        r"run; pass --resume .*", ''),
    'another experiment in the workdir': (
        2, r"error: --resume: the run in --workdir '.*/run' has another config \(seed: 0 in "
        r"the run, 1 now\); --resume needs the same --config and overrides as the run \(see "
        r".*/run/config\.json; only --config\.rounds may grow\), or use another --workdir "
        r"for a new experiment", ''),
    '--resume on the finished run': (0, '', r'.*/run is complete: 2 of 2 rounds done; to '
                                     r'extend it, --resume with a larger --config\.rounds'),
    'run files without config.json': (2, r"error: --workdir '.*/no_config' holds run files "
                                      r"\(metrics\.jsonl, client_norms\.jsonl, clients\.json, checkpoints, "
                                      r"tensorboard, report\.html\) but no config\.json.*", ''),
    'config.json cut short': (2, r"error: --workdir '.*/cut_config': .*/cut_config/config\.json "
                              r"is not valid JSON \(.*: line \d+ column .*\); fix or remove it", ''),
    'one bit flipped in the newest checkpoint': (
        0, r'warning: checkpoint .*/flipped/checkpoints/2 is corrupt: checksum mismatch in '
        r'default/.*; moved to .*/flipped/checkpoints_corrupt/2, falling back to the previous '
        r'checkpoint', ROUND_2),
    'every checkpoint corrupt': (0, (
        r'warning: checkpoint .*/all_flipped/checkpoints/2 is corrupt: checksum mismatch in '
        r'default/.*; moved to .*/all_flipped/checkpoints_corrupt/2, falling back to the '
        r'previous checkpoint',
        r'warning: checkpoint .*/all_flipped/checkpoints/1 is corrupt: checksum mismatch in '
        r'default/.*; moved to .*/all_flipped/checkpoints_corrupt/1, no older checkpoint is left',
        r'warning: no intact checkpoint is left in .*/all_flipped/checkpoints; the run starts '
        r'again from round 0'), ROUND_2),
    'checkpoints deleted': (0, r'warning: --resume: no checkpoint in .*/no_checkpoints/'
                            r'checkpoints \(deleted, or the run stopped before its first one\); '
                            r'the run starts again from round 0', ROUND_2),
    # orbax's own `W... Metadata file does not exist` line is not printed
    'orbax warns about a checkpoint': (
        0, r'warning: checkpoint .*/no_metadata/checkpoints/2 is corrupt: checksum mismatch in '
        r'_CHECKPOINT_METADATA; moved to .*, falling back to the previous checkpoint', ROUND_2),
    'workdir in use': (2, r"error: --workdir '.*/in_use' is in use: another process is running "
                       r"this run \(a training script or the control room\); wait for it to "
                       r"end or stop it, then try again", ''),
    '--resume with more rounds': (0, '', r'round +3 +test_accuracy .*'),
}


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  out = tmp_path_factory.mktemp('probes')
  proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'probes.py'), str(out)],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return {r['name']: r for r in map(json.loads, proc.stdout.splitlines())}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_probe_gets_one_clear_line(results, name):
  got = results[name]
  code, stderr, stdout = EXPECTED[name]
  assert got['exit'] == code, got
  lines = got['stderr'].strip().splitlines()
  patterns = stderr if isinstance(stderr, tuple) else (stderr,) if stderr else ()
  assert len(lines) == len(patterns), got  # one line, or the warnings a probe expects
  for pattern, line in zip(patterns, lines):
    assert re.fullmatch(pattern, line), got
  assert re.fullmatch(stdout, got['last_eval' if stdout.startswith('round') else
                                 'last_stdout']), got


def test_help_prints_the_scripts_usage(results):
  assert results['--help']['first_stdout'] == (
      'Train a federated model: `python scripts/train.py --config=configs/default.py`.')


def test_every_probe_is_expected_and_documented(results):
  assert set(results) == set(EXPECTED)
  with open(os.path.join(ROOT, 'docs', 'reliability.md')) as f:
    rows = [line for line in f if line.startswith('| ')]
  documented = {row.split('|')[1].strip().strip('`') for row in rows[1:]}
  assert set(EXPECTED) <= documented
