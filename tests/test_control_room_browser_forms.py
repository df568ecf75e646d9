"""The control room's Data and Predict forms in Chromium (issue 28, items 4
and 7), against the app served in this process: the upload's name follows
the chosen file, files no run could use are refused at upload, the label
cannot be the client column; Predict names the class with a readable
probability and the features behind it, refuses empty cells, and uses the
form once it is edited after a file was chosen."""

import re
import subprocess
import sys

from control_room_helpers import CSV, ROOT
from control_room_live import TOKEN, browser, call, open_page, served  # noqa: F401
from control_room_page import select, tab, text, wait


def test_uploads_name_their_file_and_refuse_what_no_run_could_use(served, browser, tmp_path):
  base, runs = served
  for name, body in [('first', CSV), ('second', CSV), ('semi', 'a;b;c\n1;2;3\n4;5;6\n')]:
    (tmp_path / f'{name}.csv').write_text(body)
  open_page(browser, base, '&tab=data')
  upload = browser.find_element('id', 'upload-file')
  upload.send_keys(str(tmp_path / 'first.csv'))
  assert browser.find_element('id', 'upload-name').get_attribute('value') == 'first'
  upload.send_keys(str(tmp_path / 'second.csv'))  # a second choice renames it
  assert browser.find_element('id', 'upload-name').get_attribute('value') == 'second'
  browser.find_element('id', 'upload-button').click()
  wait(browser, lambda: 'stored second: 20 rows, 4 columns' in text(browser, 'upload-message'),
       30, lambda: text(browser, 'upload-message'))
  upload.send_keys(str(tmp_path / 'semi.csv'))
  assert browser.find_element('id', 'upload-name').get_attribute('value') == 'semi'
  browser.find_element('id', 'upload-button').click()
  wait(browser, lambda: "the file looks separated by ';'" in text(browser, 'upload-message'),
       30, lambda: text(browser, 'upload-message'))
  tab(browser, 'runs')
  select(browser, 'dataset-select', 'second')
  select(browser, 'label-select', 'site')
  options = [o.get_attribute('value') for o in
             browser.find_elements('css selector', '#client-column option')]
  assert options == ['a', 'b', 'y']  # never the label


def test_predict_names_the_class_explains_it_and_refuses_empty_cells(served, browser,
                                                                     tmp_path):
  base, runs = served
  result = subprocess.run([sys.executable, f'{ROOT}/scripts/train.py',
                           '--config=configs/hospitals.py', '--config.rounds=2',
                           f'--workdir={runs}/trained'], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
  assert result.returncode == 0, result.stderr
  features = call(base, '/api/runs/trained/model')['feature_names']
  (tmp_path / 'rows.csv').write_text(','.join(features) + '\n' + ''.join(
      ','.join(['1'] * 30) + '\n' for _ in range(3)))
  open_page(browser, base, '&tab=predict')
  wait(browser, lambda: 'trained' in [o.get_attribute('value') for o in browser.find_elements(
      'css selector', '#predict-run option')], 30, 'the trained run')
  select(browser, 'predict-run', 'trained')
  wait(browser, lambda: len(browser.find_elements('css selector', '#predict-inputs input')) == 30,
       60, lambda: text(browser, 'predict-info'))
  rows = browser.find_element('id', 'predict-rows')
  rows.send_keys('1,' * 2 + ',' + '1,' * 26 + '1')  # value 3 empty
  browser.find_element('id', 'predict-button').click()
  wait(browser, lambda: text(browser, 'predict-message') ==
       'row 1, value 3 is empty; every input must be a number', 30,
       lambda: text(browser, 'predict-message'))
  browser.find_element('id', 'predict-file').send_keys(str(tmp_path / 'rows.csv'))
  rows.clear()
  rows.send_keys(','.join(['0.5'] * 30))  # an edit after the file: the rows are meant
  browser.find_element('id', 'predict-button').click()
  wait(browser, lambda: browser.find_elements('css selector', '#predict-table td.predicted'),
       30, lambda: text(browser, 'predict-message'))
  assert len(browser.find_elements('css selector', '#predict-table tr[data-row]')) == 1
  predicted = text(browser, 'predict-table').split('\n')
  cells = browser.find_elements('css selector', '#predict-table td')
  assert re.fullmatch(r'(benign|malignant) \((\d+\.\d|> 99\.9) %\)', cells[1].text), cells[1].text
  probabilities = browser.find_elements('css selector', '#predict-table td.probability')
  assert all(re.fullmatch(r'(\d+\.\d|< 0\.1|> 99\.9) %', p.text) for p in probabilities)
  assert abs(sum(float(p.get_attribute('data-value')) for p in probabilities) - 1) < 1e-6
  top = browser.find_element('css selector', '#predict-table td.top-features').text.split(', ')
  assert len(top) == 3 and all(re.fullmatch(r'.+ [+−]\d+(\.\d+)?', t) for t in top), predicted
  assert 'feature contributions: exact for the logistic model' in text(browser, 'predict-message')
