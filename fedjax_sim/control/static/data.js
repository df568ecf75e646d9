// The Data and Predict tabs: uploaded data sets (upload, delete) and
// predictions from a run's global model.
'use strict';

// ---- data ----
async function loadDatasets() {
  state.datasets = (await api('/api/datasets')).datasets;
  const select = $('dataset-select');
  const keep = select.value;
  select.replaceChildren(el('option', {value: ''}, "the config's own data"),
                         ...state.datasets.map((d) => el('option', {value: d.name}, d.name)));
  select.value = state.datasets.some((d) => d.name === keep) ? keep : '';
  $('datasets').replaceChildren(...state.datasets.map((d) => el('div', {class: 'dataset'},
    el('h3', {}, `${d.name} (${d.rows} rows) `,
       el('button', {id: 'delete-dataset-' + d.name, class: 'danger', onclick: () => deleteDataset(d.name)}, 'Delete')),
    el('table', {}, el('tr', {}, ...d.columns.map((c) => el('th', {}, c))),
       ...d.preview.map((row) => el('tr', {}, ...row.map((v) => el('td', {}, v))))))));
}

async function deleteDataset(name) {
  if (!confirm(`Delete data set ${name}? Runs that train on it must be deleted first.`)) return;
  try {
    await remove(`/api/datasets/${encodeURIComponent(name)}`);
    say('upload-message', `deleted ${name}`, true);
    await loadDatasets();
    $('dataset-select').dispatchEvent(new Event('change'));
  } catch (error) {
    say('upload-message', `delete ${name}: ${error.message}`);
  }
}

$('upload-file').addEventListener('change', () => {
  const file = $('upload-file').files[0];
  if (file && !$('upload-name').value) $('upload-name').value = file.name.replace(/\.csv$/i, '').replace(/[^A-Za-z0-9._-]/g, '_');
});

$('upload-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = $('upload-file').files[0];
  try {
    const stored = await api('/api/datasets?name=' + encodeURIComponent($('upload-name').value),
                             {method: 'POST', body: file, headers: {'Content-Type': 'text/csv'}});
    say('upload-message', `stored ${stored.name}: ${stored.rows} rows, ${stored.columns.length} columns`, true);
    await loadDatasets();
  } catch (error) {
    say('upload-message', error.message);
  }
});

// ---- predict ----
async function loadPredict() {
  const name = $('predict-run').value;
  if (!name) return;
  const current = newest('predict');
  $('download-model').href = withToken(`/api/runs/${encodeURIComponent(name)}/model.msgpack`);
  $('predict-inputs').replaceChildren();
  $('predict-info').textContent = `Loading the global model of ${name}...`;
  try {
    const info = await api(`/api/runs/${encodeURIComponent(name)}/model`);
    if (!current()) return;
    $('predict-info').textContent = `Global model of ${name} after round ${info.rounds_done}; classes: ${info.class_names.join(', ')}; ${info.inputs} inputs per row.`;
    const features = info.feature_names || [];
    $('predict-inputs').replaceChildren(...features.map((f, i) =>
      el('label', {}, f + ' ', el('input', {id: 'predict-' + i, type: 'number', step: 'any', 'data-feature': f}))));
    say('predict-message', '');
  } catch (error) {
    if (current()) say('predict-message', error.message);
  }
}

function predictRows() {
  const text = $('predict-rows').value.trim();
  if (text) return text.split('\n').map((line) => line.split(',').map(Number));
  return [[...document.querySelectorAll('#predict-inputs input')].map((i) => (i.value === '' ? NaN : Number(i.value)))];
}

$('predict-run').addEventListener('change', loadPredict);
$('predict-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const current = newest('predictions');
  try {
    const run = encodeURIComponent($('predict-run').value);
    const file = $('predict-file').files[0];
    let body;
    if (file) {
      body = await api(`/api/runs/${run}/predict_csv`, {method: 'POST', body: file, headers: {'Content-Type': 'text/csv'}});
    } else {
      const rows = predictRows();
      if (rows.some((r) => r.some((v) => !Number.isFinite(v)))) throw new Error('every input must be a number');
      body = await post(`/api/runs/${run}/predict`, {rows});
    }
    if (!current()) return;
    $('predict-table').replaceChildren(el('tr', {}, el('th', {}, 'row'), ...body.class_names.map((c) => el('th', {}, c))),
      ...body.probabilities.map((p, i) => el('tr', {'data-row': i}, el('td', {}, String(i + 1)),
                                             ...p.map((v) => el('td', {class: 'probability'}, v.toPrecision(8))))));
    say('predict-message', `probabilities from the model after round ${body.rounds_done}`, true);
  } catch (error) {
    if (current()) say('predict-message', error.message);
  }
});

