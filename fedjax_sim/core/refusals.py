"""Every pair of settings the simulator refuses, deliberately, in one table.

Each row says which values of a setting (`field`) are accepted under
another setting (`condition`), and why the others are not; the code that
refuses raises `row.error(value)`, so the error line is the row's.
`python scripts/refusal_table.py > docs/refusals.md` writes the table.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fedjax_sim.errors import ConfigError


class Refusal(NamedTuple):
  """`field` under `condition` accepts only `accepted` (values, or in words)."""

  field: str
  condition: str
  accepted: tuple | str
  reason: str

  def expected(self) -> str:
    """What `field` may be under `condition`."""
    if isinstance(self.accepted, str):
      return self.accepted
    return f'one of {list(self.accepted)}'

  def message(self, value: Any, context: str = '') -> str:
    """The one-line error for `field=value` (`context` follows the value)."""
    return (f'{self.field}={value!r}{context} is not supported with {self.condition}: '
            f'{self.reason}; expected {self.expected()}')

  def error(self, value: Any, context: str = '') -> ConfigError:
    return ConfigError(self.message(value, context))


FEDBUFF = 'fedbuff.buffer_size > 0 (asynchronous FedBuff)'
DP = "aggregator.name='dp' (DP-FedAvg with privacy accounting)"
STREAMED = 'data streamed from disk (the SQLite benchmarks)'
LANES_INSTEAD = "'chunked', 'sequential' or 'auto'"

FEDBUFF_REFUSALS = (
    Refusal('algorithm', FEDBUFF,
            ('fedavg', 'fedprox', 'scaffold', 'feddyn', 'ditto', 'mimelite', 'qfedavg'),
            "fedexp's step needs its clients' side values (a second reduce), which the "
            "buffer does not keep; fednova's step multiplies two means of the reports, "
            'so the staleness discount would apply twice'),
    Refusal('clock.deadline', FEDBUFF, (0,), 'there are no rounds to close: each report '
            'counts when it arrives'),
    Refusal('clock.over_selection', FEDBUFF, (0,), 'there are no rounds to close early: the '
            'server already takes the earliest K reports of the clients in flight (raise '
            'fedbuff.concurrency instead)'),
    Refusal('centralized', FEDBUFF, (False,), 'the centralized baseline trains one client '
            'holding every example, so nothing runs asynchronously (compare with the '
            'centralized run of the synchronous config)'))

DP_AVAILABILITY = Refusal(
    'availability.kind', DP, ('always',), 'the accountant assumes clients_per_round clients '
    'sampled uniformly from all of them, and availability changes who can be sampled')
DP_OVER_SELECTION = Refusal(
    'clock.over_selection', DP, (0,), 'the accountant assumes clients_per_round clients '
    'sampled uniformly from all of them, and over-selection keeps the fastest')
DP_CHAIN = Refusal(
    'aggregator.name', "a chain of aggregators ('+')", "'dp' alone, or a chain of clip and "
    "dp_noise such as 'clip+trimmed_mean+dp_noise'", "'dp' is DP-FedAvg whole (clip, noise, "
    'divide by clients_per_round) and does not chain')
KRUM_CLIENTS = Refusal(
    'aggregator.num_byzantine', 'at most 2 * aggregator.num_byzantine + 2 clients per update '
    '(clients_per_round, or fedbuff.buffer_size under FedBuff)',
    'fewer Byzantine clients or more clients per update', "Krum scores each update by its "
    'distances to its n - f - 2 nearest others')
STREAMED_PERSONALIZATION = Refusal(
    'personalization.client_test_fraction', STREAMED, (0,), 'holding out part of every '
    "client's data needs the data in memory")
STREAMED_ATTACK = Refusal('attack.kind', STREAMED, ('none',), 'the attack poisons the '
                          'clients\' data in memory')
STREAMED_CENTRALIZED = Refusal('centralized', STREAMED, (False,), 'pooling every '
                               'client\'s data needs the data in memory')
STREAMED_DEVICE = Refusal('engine.population', STREAMED, ('auto', 'host', 'disk'),
                          'the data set is gathered on the host, a round at a time')
DITTO_HELD_OUT = Refusal(
    'personalization.client_test_fraction', "algorithm='ditto'", '> 0', 'ditto evaluates '
    'personal models on held-out local data')
CLIENT_EVAL_HELD_OUT = Refusal(
    'personalization.client_test_fraction', 'client_eval_fraction > 0', '> 0', 'sampled '
    "clients are tested on the part of their data they hold out")
FINETUNE_HELD_OUT = Refusal(
    'personalization.client_test_fraction', 'personalization.finetune_steps > 0', '> 0',
    'fine-tuned models are tested on the part of their data each client holds out')
LANES_FULL_PASS = Refusal(
    'engine.strategy', "an algorithm whose clients make a full pass over their data "
    '(mimelite, qfedavg: fold_examples)', LANES_INSTEAD, 'lanes need exactly one local-steps '
    'loop (train_locally) per client')
LANES_LOOPS = Refusal(
    'engine.strategy', 'an algorithm whose clients run more than one local loop (ditto)',
    LANES_INSTEAD, 'lanes need exactly one local-steps loop (train_locally) per client')
LANES_DIFFERENTIABLE = Refusal(
    'engine.strategy', 'differentiable rounds (make_round(differentiable=True))',
    "'chunked' or 'sequential'", 'differentiable rounds run fixed-length loops')

SWEEP = 'a sweep (config.sweep)'
SWEEP_POPULATION = Refusal(
    'engine.population', SWEEP, ('device',), "a sweep keeps every member's client states "
    "on the devices, vmapped; host and disk populations (chosen by 'auto' when they do not "
    'fit) would gather each member\'s sampled rows on the host, which is not built: sweep '
    'fewer members per run, or run the members one after another')
SWEEP_CLOCK = Refusal(
    'the virtual clock (clock, system, availability) or fedbuff', SWEEP, (False,),
    "its schedule runs on the host between rounds, one run at a time; sweep without it, or "
    'run the members one after another')
SWEEP_PROCESSES = Refusal(
    '--num_processes', SWEEP, (1,), 'a sweep runs in one process (on every local device); '
    'run one sweep per process, each over part of the grid')

REFUSALS = FEDBUFF_REFUSALS + (
    DP_AVAILABILITY, DP_OVER_SELECTION, DP_CHAIN, KRUM_CLIENTS, STREAMED_PERSONALIZATION,
    STREAMED_ATTACK, STREAMED_CENTRALIZED, STREAMED_DEVICE, DITTO_HELD_OUT,
    CLIENT_EVAL_HELD_OUT, FINETUNE_HELD_OUT, LANES_FULL_PASS, LANES_LOOPS,
    LANES_DIFFERENTIABLE, SWEEP_POPULATION, SWEEP_CLOCK, SWEEP_PROCESSES)


def refuse(row: Refusal, value: Any) -> None:
  """Raises `row`'s error unless `value` is one of its accepted values."""
  if value not in row.accepted:
    raise row.error(value)


def table(rows: tuple[Refusal, ...] = REFUSALS) -> str:
  """docs/refusals.md: the rows as a Markdown table."""
  cell = lambda text: str(text).replace('|', '\\|')  # noqa: E731
  lines = ['# Refused combinations', '',
           'Every pair of settings the simulator refuses, each with one error line '
           '(`setting=value is not supported with <condition>: <reason>; expected '
           '<accepted>`). Generated from `fedjax_sim/core/refusals.py` by '
           '`python scripts/refusal_table.py > docs/refusals.md`; '
           '`tests/test_pairwise.py` checks that every other pair of features trains.', '',
           '| setting | refused with | accepted there | reason |',
           '| --- | --- | --- | --- |']
  lines += [f'| `{row.field}` | {cell(row.condition)} | {cell(row.expected())} | '
            f'{cell(row.reason)} |' for row in rows]
  return '\n'.join(lines) + '\n'
