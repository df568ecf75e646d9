"""Sweeps: every member of a vmapped group equals the single run of its own
config (`fedjax_sim.train`), for FedAvg, FedProx, SCAFFOLD (client state),
DP with noise, stragglers and dropouts; grouping; frozen members."""

import json

import numpy as np
import pytest

import fedjax_sim as fs
from configs import default
from fedjax_sim.config import sweep as sweep_lib
from fedjax_sim.errors import ConfigError, DivergedError

COMPARED = ('test_loss', 'test_accuracy', 'train_loss', 'client_train_loss',
            'client_train_accuracy')


def small(data: str = 'synthetic', **changes):
  c = default.get_config(data)
  c.rounds, c.eval_every, c.clients_per_round = 3, 1, 6
  c.data.seed = 0
  for field, value in changes.items():
    node = c
    *parents, leaf = field.split('__')
    for part in parents:
      node = node[part]
    node[leaf] = value
  return c


def assert_members_equal_singles(config, axes, mode='product', groups=1, max_members=0):
  config.sweep = sweep_lib.sweep_section(axes, mode)
  config.sweep.max_members = max_members
  members = sweep_lib.members(config)
  assert len(sweep_lib.groups(config, members)) == groups
  histories = fs.sweep(config, log=lambda line: None)
  for member, history in zip(members, histories):
    single = fs.train(member.config, log=lambda line: None, progress='none')
    assert len(history) == len(single) > 0
    for got, want in zip(history, single):
      for key in COMPARED:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6,
                                   err_msg=f'member {member.index} {member.values} {key}')
  return histories


def test_fedavg_learning_rates_and_seeds_one_program():
  histories = assert_members_equal_singles(
      small('digits'), {'client.optimizer.learning_rate': (0.05, 0.2), 'seed': (0, 1)})
  losses = [h[-1]['test_loss'] for h in histories]
  assert len(set(losses)) == 4  # the members really differ


def test_fedprox_mu_stragglers_and_dropouts_zipped():
  assert_members_equal_singles(
      small(algorithm='fedprox'),
      {'fedprox.mu': (0., 0.5, 1.), 'server.optimizer.learning_rate': (1., 0.5, 1.),
       'stragglers.fraction': (0., 0.5, 0.3), 'dropout.probability': (0.3, 0., 0.)},
      mode='zip')


@pytest.mark.parametrize('strategy,chunk', [('auto', 1), ('lanes', 2)])
def test_scaffold_client_state(strategy, chunk):
  """Also with the members' clients in lanes (each member's lanes take
  clients from its own queue inside the vmapped loop)."""
  assert_members_equal_singles(
      small(algorithm='scaffold', engine__strategy=strategy, engine__chunk_size=chunk),
      {'client.optimizer.learning_rate': (0.02, 0.1)})


def test_dp_noise_and_clip():
  assert_members_equal_singles(
      small(aggregator__name='dp', weighting='uniform'),
      {'aggregator.noise_multiplier': (0.1, 1.), 'aggregator.clip': (0.5, 2.)}, mode='zip')


@pytest.mark.parametrize('changes', [
    {'algorithm': 'feddyn', 'aggregator__name': 'trimmed_mean', 'compression__name': 'topk',
     'attack__kind': 'sign_flip'},
    {'algorithm': 'mimelite', 'aggregator__name': 'krum', 'compression__name': 'quantize'},
    {'algorithm': 'ditto', 'personalization__client_test_fraction': 0.2,
     'aggregator__name': 'clip+mean+dp_noise'},
], ids=['feddyn-trimmed_mean-topk-sign_flip', 'mimelite-krum-quantize', 'ditto-dp_noise'])
def test_algorithms_aggregators_compression_attacks_compose(changes):
  config = small(**changes)
  config.rounds, config.eval_every = 2, 2
  assert_members_equal_singles(config, {'client.optimizer.learning_rate': (0.02, 0.05)})


def test_members_in_chunks_equal_single_runs(tmp_path):
  """`sweep.max_members=3`: four members as programs of 3 and 1."""
  config = small()
  config.sweep = sweep_lib.sweep_section({'client.optimizer.learning_rate': (0.05, 0.2),
                                          'seed': (0, 1)})
  config.sweep.max_members = 3
  histories = fs.sweep(config, log=lambda line: None, workdir=str(tmp_path))
  with open(tmp_path / 'sweep.json') as f:
    assert [p['members'] for p in json.load(f)['programs']] == [[0, 1, 2], [3]]
  for member, history in zip(sweep_lib.members(config), histories):
    single = fs.train(member.config, log=lambda line: None)
    for got, want in zip(history, single, strict=True):
      np.testing.assert_allclose(got['test_loss'], want['test_loss'], rtol=1e-6, atol=1e-6)


def test_structural_fields_form_groups():
  config = small()
  config.sweep = sweep_lib.sweep_section(
      {'client.batch_size': (5, 10), 'client.optimizer.learning_rate': (0.05, 0.1, 0.2)})
  groups = sweep_lib.groups(config, sweep_lib.members(config))
  assert [len(g.members) for g in groups] == [3, 3]
  assert [g.traced for g in groups] == [('client.optimizer.learning_rate',)] * 2
  assert [{m.values['client.batch_size'] for m in g.members} for g in groups] == [{5}, {10}]


def test_seed_is_structural_without_a_data_seed():
  """Without data.seed each seed partitions the data its own way: a group each."""
  config = small()
  config.data.seed = None
  config.sweep = sweep_lib.sweep_section({'seed': (0, 1, 2)})
  groups = sweep_lib.groups(config, sweep_lib.members(config))
  assert [len(g.members) for g in groups] == [1, 1, 1]
  config.data.seed = 0
  assert [len(g.members) for g in sweep_lib.groups(config, sweep_lib.members(config))] == [3]


def test_a_diverging_member_is_frozen_and_the_others_are_unchanged():
  config = small()
  config.sweep = sweep_lib.sweep_section({'client.optimizer.learning_rate': (0.1, 1e30)})
  lines = []
  histories = fs.sweep(config, log=lines.append)
  single = fs.train(sweep_lib.members(config)[0].config, log=lambda line: None)
  np.testing.assert_allclose([h['test_loss'] for h in histories[0]],
                             [h['test_loss'] for h in single], rtol=1e-6, atol=1e-6)
  assert histories[1] == []  # frozen in round 1, never evaluated
  table = lines[-1]
  assert 'member 1 at round 1' in table and table.splitlines()[2].split()[1] == '0.1'


def test_every_member_frozen_is_an_error():
  config = small()
  config.sweep = sweep_lib.sweep_section({'client.optimizer.learning_rate': (1e30, 1e31)})
  with pytest.raises(DivergedError, match='every member of the sweep was frozen'):
    fs.sweep(config, log=lambda line: None)


@pytest.mark.parametrize('axes, mode, message', [
    ({'client.optimizer.learning_rat': (0.1,)}, 'product',
     'sweep.axes.client.optimizer.learning_rat: the config has no such field'),
    ({'client.optimizer.learning_rate': (0.1, -1.)}, 'product',
     r"sweep member 1 \(client.optimizer.learning_rate=-1.0\): client.optimizer"
     r".learning_rate must be > 0"),
    ({'seed': (0, 1), 'fedprox.mu': (0.1,)}, 'zip', 'sweep.mode=zip needs axes of one length'),
    ({'seed': (0,)}, 'grid', "sweep.mode must be one of \\['product', 'zip'\\]"),
])
def test_bad_sweeps_are_one_line(axes, mode, message):
  config = small(algorithm='fedprox')
  config.sweep = sweep_lib.sweep_section(axes, mode)
  with pytest.raises(ConfigError, match=message):
    fs.sweep(config, log=lambda line: None)


@pytest.mark.parametrize('changes, message', [
    ({'engine__population': 'host'}, "engine.population='host' is not supported with a sweep"),
    ({'availability__kind': 'iid'}, 'the virtual clock .* is not supported with a sweep'),
    ({'fedbuff__buffer_size': 2}, 'the virtual clock .* or fedbuff=True is not supported'),
])
def test_refused_combinations_are_one_line(changes, message):
  config = small(**changes)
  config.sweep = sweep_lib.sweep_section({'client.optimizer.learning_rate': (0.1, 0.2)})
  with pytest.raises(ConfigError, match=message):
    fs.sweep(config, log=lambda line: None)


def test_members_are_chunked_when_the_program_does_not_fit(monkeypatch):
  """With (pretended) almost no free memory, XLA's memory analysis of the
  compiled program exceeds the budget: the members run in chunks of one."""
  from fedjax_sim.config import sweep_program
  monkeypatch.setattr(sweep_program, '_free_bytes', lambda mesh: 1024)
  config = small()
  config.sweep = sweep_lib.sweep_section({'client.optimizer.learning_rate': (0.05, 0.2)})
  group = sweep_lib.groups(config, sweep_lib.members(config))[0]
  lines = []
  programs = sweep_program.build_groups(group, lines.append, lambda line: None)
  assert [p.indices for p in programs] == [(0,), (1,)]
  assert any(line.startswith('sweep: 2 members need') and line.endswith('chunks of 1 members')
             for line in lines)
