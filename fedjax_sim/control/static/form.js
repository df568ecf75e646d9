// The new-run form: a config file (or an uploaded data set) and its fields.
// The server checks them as the command line does before queueing; the
// message then follows the run (queued, running, finished or failed).
'use strict';

async function loadConfigs() {
  const body = await api('/api/configs');
  state.configs = body.configs;
  state.csvConfig = body.csv_config;
  const select = $('config-select');
  for (const c of body.configs) select.append(el('option', {value: c.name}, c.name));
  select.value = body.configs.some((c) => c.name === 'default.py') ? 'default.py' : body.configs[0].name;
  await loadFields();
}

async function loadFields() {
  const dataset = $('dataset-select').value;
  const name = dataset ? state.csvConfig : $('config-select').value;
  $('config-select').disabled = !!dataset;
  const config = state.configs.find((c) => c.name === name);
  $('config-doc').textContent = config ? config.doc : '';
  const current = newest('fields');
  const body = await api('/api/configs/' + encodeURIComponent(name));
  if (!current()) return;
  const box = $('fields');
  box.replaceChildren();
  for (const [field, value] of Object.entries(body.fields)) {
    if (field.startsWith('data.') && field !== 'data.name' && !dataset) continue;
    if (dataset && (field.startsWith('data.') || field === 'model.name')) continue;
    const input = el('input', {id: 'field-' + field.replaceAll('.', '-'), 'data-field': field,
                               value: Array.isArray(value) ? value.join(',') : value});
    box.append(el('label', {}, field + ' ', input));
  }
  const now = new Date();
  const stamp = [now.getMonth() + 1, now.getDate(), now.getHours(), now.getMinutes(), now.getSeconds()]
    .map((v) => String(v).padStart(2, '0')).join('');
  $('run-name').value = `${(dataset || name.replace('.py', ''))}-${stamp}`;
}

function collectFields() {
  const fields = {};
  for (const input of document.querySelectorAll('#fields input')) fields[input.dataset.field] = input.value;
  const dataset = $('dataset-select').value;
  if (!dataset) return fields;
  fields['data.label'] = $('label-select').value;
  fields['data.features'] = [...document.querySelectorAll('#feature-boxes input:checked')].map((b) => b.value);
  const source = $('client-source').value;
  if (source === 'column') {
    fields['data.client_column'] = $('client-column').value;
  } else {
    fields['data.client_column'] = '';
    fields['data.partition'] = source;
    fields['data.num_clients'] = $('num-clients').value;
    if (source === 'dirichlet') fields['data.alpha'] = $('alpha').value;
  }
  return fields;
}

function showCsvChoice() {
  const dataset = state.datasets.find((d) => d.name === $('dataset-select').value);
  $('csv-choice').hidden = !dataset;
  if (!dataset) return;
  const columns = dataset.columns;
  $('label-select').replaceChildren(...columns.map((c) => el('option', {value: c}, c)));
  $('label-select').value = columns[columns.length - 1];
  fillClientColumns(columns);
  drawFeatureBoxes(columns);
}

// The client-id column can be any column but the label.
function fillClientColumns(columns) {
  const label = $('label-select').value;
  const keep = $('client-column').value;
  const choices = columns.filter((c) => c !== label);
  $('client-column').replaceChildren(...choices.map((c) => el('option', {value: c}, c)));
  if (choices.includes(keep)) $('client-column').value = keep;
}

function drawFeatureBoxes(columns) {
  const label = $('label-select').value;
  const clientColumn = $('client-source').value === 'column' ? $('client-column').value : null;
  $('feature-boxes').replaceChildren(...columns.filter((c) => c !== label && c !== clientColumn).map(
    (c) => el('label', {class: 'box'}, el('input', {type: 'checkbox', value: c, checked: ''}), ' ' + c)));
}

function showClientSource() {
  const source = $('client-source').value;
  $('client-column-label').hidden = source !== 'column';
  $('num-clients-label').hidden = source === 'column';
  $('alpha-label').hidden = source !== 'dirichlet';
  const dataset = state.datasets.find((d) => d.name === $('dataset-select').value);
  if (dataset) drawFeatureBoxes(dataset.columns);
}

// The start message follows the run it started: a run that fails after it
// was queued says so (red) instead of leaving "queued" up.
function followStarted() {
  const run = state.runs.find((r) => r.name === state.started);
  if (!run) return;
  if (run.status === 'failed') say('start-message', `run ${run.name} failed: ${run.error || 'see its console'}`);
  else say('start-message', `run ${run.name} is ${run.status}`, run.status !== 'stopped');
}

$('config-select').addEventListener('change', loadFields);
$('dataset-select').addEventListener('change', () => { showCsvChoice(); loadFields(); });
$('label-select').addEventListener('change', () => {
  const dataset = state.datasets.find((d) => d.name === $('dataset-select').value);
  if (dataset) fillClientColumns(dataset.columns);
  showClientSource();
});
$('client-column').addEventListener('change', showClientSource);
$('client-source').addEventListener('change', showClientSource);

$('new-run').addEventListener('submit', async (event) => {
  event.preventDefault();
  state.started = null;
  say('start-message', 'starting...');
  try {
    const dataset = $('dataset-select').value;
    const job = await post('/api/runs', {name: $('run-name').value, config: $('config-select').value,
                                         dataset: dataset || null, fields: collectFields()});
    state.started = job.name;
    say('start-message', `run ${job.name} is ${job.status}`, true);
    watch(job.name);
  } catch (error) {
    say('start-message', error.message);
  }
});
