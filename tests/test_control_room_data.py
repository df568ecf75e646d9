"""The control room's uploaded CSV data sets: stored and checked, bad files
and bad column choices refused before any run, an uploaded table's data
source kept, and concurrent uploads of one name."""

import os

import pytest

from control_room_helpers import CSV, CSV_TYPE


def test_upload_is_stored_and_checked(client, tmp_path):
  response = client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  assert response.status_code == 201
  assert response.json()['columns'] == ['a', 'b', 'site', 'y']
  assert (tmp_path / '_data' / 't1.csv').read_text() == CSV
  again = client.post('/api/datasets?name=t1', content='x,y\n1,2\n', headers=CSV_TYPE)
  assert again.status_code == 409 and (tmp_path / '_data' / 't1.csv').read_text() == CSV
  assert [d['name'] for d in client.get('/api/datasets').json()['datasets']] == ['t1']


@pytest.mark.parametrize('body, message', [
    (b'a,b\n1,2\n3\n', 'row 3 has 1 fields, the header has 2'),
    (b'a,b\n\xff\xfe,1\n', 'not UTF-8'),
    (b'a,b\n1,\x002\n', 'NUL bytes'),
    (b'a,b\n', 'expected a header row and data rows'),
    # Refused at upload, not at Start (issue 28, item 7).
    (b'a;b;c\n1;2;3\n4;5;6\n', "the header is one column, 'a;b;c': the file looks "
                                 "separated by ';'; save it with commas"),
    (b'a,b\n1,2\n3,x\n', "bad: row 3, column 'b': 'x' is not a number, but the column's "
                          'other values are numbers'),
    (b'a,b\n1,2\n3,\n4,5\n', "bad: row 3, column 'b': missing value, but the column's"),
])
def test_bad_uploads_are_one_clear_error(client, tmp_path, body, message):
  response = client.post('/api/datasets?name=bad', content=body, headers=CSV_TYPE)
  assert response.status_code == 400 and message in response.json()['error']
  assert os.listdir(tmp_path / '_data') == []


@pytest.mark.parametrize('fields, message', [
    ({'data.label': 'y', 'data.features': ['a', 'site'], 'data.client_column': ''},
     "column 'site': 'x' is not a number"),
    ({'data.label': 'nope'}, "data.label='nope' is not a column"),
    ({'data.label': 'y', 'data.client_column': 'a', 'data.features': ['b']},
     "client '0' has 1 training rows; each needs at least data.min_client_rows=2"),
    ({'data.label': 'site', 'data.client_column': 'site', 'data.features': ['a', 'b']},
     "data.client_column='site' is the label column too; choose another column"),
])
def test_bad_column_choices_are_refused_before_the_run(client, fields, message):
  client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  response = client.post('/api/runs', json={'name': 'r', 'dataset': 't1', 'fields': fields})
  assert response.status_code == 400 and message in response.json()['error'], response.json()
  assert client.get('/api/runs').json()['runs'] == []


def test_an_uploaded_table_keeps_its_data_source(client):
  client.post('/api/datasets?name=t1', content=CSV, headers=CSV_TYPE)
  response = client.post('/api/runs', json={'name': 'r', 'dataset': 't1', 'fields': {
      'data.name': 'synthetic', 'data.label': 'y'}})
  assert response.status_code == 400 and response.json()['error'].startswith(
      'data.name: an uploaded data set sets only data.label')


def test_concurrent_uploads_never_replace_a_data_set(tmp_path):
  import asyncio
  from fedjax_sim.control import uploads
  from fedjax_sim.control.safety import Refused

  async def scenario():
    release = asyncio.Event()

    async def slow():
      yield b'a,b\n1,2\n'
      await release.wait()
      yield b'3,4\n'

    async def fast():
      yield CSV.encode()

    first = asyncio.create_task(uploads.store(str(tmp_path), 'u', slow(), 10**6))
    await asyncio.sleep(0.05)  # the slow upload is past its check that 'u' is free
    await uploads.store(str(tmp_path), 'u', fast(), 10**6)
    release.set()
    with pytest.raises(Refused, match="dataset='u' exists already"):
      await first

  asyncio.run(scenario())
  assert (tmp_path / '_data' / 'u.csv').read_text() == CSV
  assert os.listdir(tmp_path / '_data') == ['u.csv']  # no temporary files left
