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

// The name follows the chosen file unless it was typed.
let suggestedName = '';
$('upload-file').addEventListener('change', () => {
  const file = $('upload-file').files[0];
  if (!file || ($('upload-name').value && $('upload-name').value !== suggestedName)) return;
  suggestedName = file.name.replace(/\.csv$/i, '').replace(/[^A-Za-z0-9._-]/g, '_');
  $('upload-name').value = suggestedName;
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

// Rows to predict from the pasted text or else the form: an empty or
// non-numeric value is an error naming it, never read as 0.
function predictRows() {
  const text = $('predict-rows').value.trim();
  if (text) {
    return text.split('\n').map((line, i) => line.split(',').map((cell, j) => number(cell, `row ${i + 1}, value ${j + 1}`)));
  }
  return [[...document.querySelectorAll('#predict-inputs input')].map((input) => number(input.value, input.dataset.feature))];
}

function number(cell, where) {
  const value = cell.trim();
  if (value === '') throw new Error(`${where} is empty; every input must be a number`);
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`${where}: '${value}' is not a number`);
  return parsed;
}

// A probability for people: one decimal of a percent, and the ends as bounds.
function percent(p) {
  if (p < 0.001) return '< 0.1 %';
  if (p > 0.999) return '> 99.9 %';
  return (100 * p).toFixed(1) + ' %';
}

function predictionRow(body, p, i) {
  const best = p.indexOf(Math.max(...p));
  const top = body.top_features ? body.top_features[i].map(
    (t) => `${t.feature} ${t.contribution >= 0 ? '+' : '−'}${fmt(Math.abs(t.contribution), 3)}`).join(', ') : '';
  return el('tr', {'data-row': i}, el('td', {}, String(i + 1)),
            el('td', {class: 'predicted'}, `${body.predicted[i]} (${percent(p[best])})`),
            ...p.map((v) => el('td', {class: 'probability', 'data-value': String(v), title: String(v)}, percent(v))),
            el('td', {class: 'top-features'}, top));
}

// Editing the form or the pasted rows means them, not a file chosen before.
for (const id of ['predict-inputs', 'predict-rows']) {
  $(id).addEventListener('input', () => { $('predict-file').value = ''; });
}
$('predict-file').addEventListener('change', () => {
  const file = $('predict-file').files[0];
  if (file) say('predict-message', `Predict uses the rows of ${file.name}; edit the form or the rows to use them instead.`, true);
});

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
      body = await post(`/api/runs/${run}/predict`, {rows: predictRows()});
    }
    if (!current()) return;
    $('predict-table').replaceChildren(
      el('tr', {}, el('th', {}, 'row'), el('th', {}, 'predicted'),
         ...body.class_names.map((c) => el('th', {class: 'class-name'}, c)),
         el('th', {}, body.top_features ? 'top features (contribution to the predicted class)' : '')),
      ...body.probabilities.map((p, i) => predictionRow(body, p, i)));
    say('predict-message', `probabilities from the model after round ${body.rounds_done}` +
        (body.attribution ? `; feature contributions: ${body.attribution}` : ''), true);
  } catch (error) {
    if (current()) say('predict-message', error.message);
  }
});

