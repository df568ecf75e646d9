// The control room's page: talks to /api (JSON) and /api/events (server-sent events).
'use strict';

const TOKEN = new URLSearchParams(location.search).get('token');
const state = {runs: [], watched: null, watchedRound: -1, selected: new Set(),
               datasets: [], configs: [], csvConfig: null};
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
  const response = await fetch(path, Object.assign({}, options, {headers}));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// Answers can arrive out of order: `newest(kind)` starts a request of that
// kind and returns a check that stays true until a newer one starts, so an
// older answer (another run, an older round) never draws over a newer one.
const requests = {};
function newest(kind) {
  const id = (requests[kind] = (requests[kind] || 0) + 1);
  return () => requests[kind] === id;
}

const post = (path, body) => api(path, {method: 'POST', body: JSON.stringify(body || {}),
                                        headers: {'Content-Type': 'application/json'}});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function say(id, text, ok = false) {
  $(id).textContent = text;
  $(id).classList.toggle('ok', ok);
}

const fmt = (v, digits = 4) => (typeof v === 'number' ? Number(v.toFixed(digits)).toString() : '');

function duration(seconds) {
  if (seconds == null) return '';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// ---- tabs ----
for (const button of document.querySelectorAll('.tab')) {
  button.addEventListener('click', () => showTab(button.dataset.tab));
}

function showTab(name) {
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
  for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== 'tab-' + name;
  if (name === 'compare') drawCompare();
  if (name === 'clients') drawClients();
  if (name === 'predict') loadPredict();
}

// ---- new run form ----
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
  $('client-column').replaceChildren(...columns.map((c) => el('option', {value: c}, c)));
  drawFeatureBoxes(columns);
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

$('config-select').addEventListener('change', loadFields);
$('dataset-select').addEventListener('change', () => { showCsvChoice(); loadFields(); });
$('label-select').addEventListener('change', showClientSource);
$('client-column').addEventListener('change', showClientSource);
$('client-source').addEventListener('change', showClientSource);

$('new-run').addEventListener('submit', async (event) => {
  event.preventDefault();
  say('start-message', 'starting...');
  try {
    const dataset = $('dataset-select').value;
    const job = await post('/api/runs', {name: $('run-name').value, config: $('config-select').value,
                                         dataset: dataset || null, fields: collectFields()});
    say('start-message', `run ${job.name} is ${job.status}`, true);
    watch(job.name);
  } catch (error) {
    say('start-message', error.message);
  }
});

// ---- runs table and live chart ----
function drawRuns() {
  // Rows are updated in place, so a click or an entry in a row survives the next update.
  const body = $('runs-table').tBodies[0];
  const rows = new Map([...body.rows].map((row) => [row.dataset.run, row]));
  for (const run of state.runs) {
    const row = rows.get(run.name) || newRunRow(run);
    updateRunRow(row, run);
    body.append(row);  // keeps the server's order
    rows.delete(run.name);
  }
  for (const row of rows.values()) row.remove();
  for (const id of ['clients-run', 'predict-run']) {
    const select = $(id);
    const keep = select.value;
    const names = state.runs.filter((r) => r.round > 0).map((r) => r.name);
    if ([...select.options].map((o) => o.value).join() === names.join()) continue;
    select.replaceChildren(...names.map((n) => el('option', {value: n}, n)));
    if (names.includes(keep)) select.value = keep;
    if (select.value !== keep) select.dispatchEvent(new Event('change'));
  }
}

function newRunRow(run) {
  const box = el('input', {type: 'checkbox', class: 'select-run', 'data-run': run.name});
  box.addEventListener('change', () => {
    if (box.checked) state.selected.add(run.name); else state.selected.delete(run.name);
  });
  const link = el('a', {href: '#', onclick: (e) => { e.preventDefault(); watch(run.name); }}, run.name);
  return el('tr', {'data-run': run.name}, el('td', {}, box), el('td', {}, link),
            el('td', {id: 'status-' + run.name}), el('td', {id: 'progress-' + run.name}),
            el('td', {id: 'eta-' + run.name}), el('td', {id: 'accuracy-' + run.name}),
            el('td', {id: 'actions-' + run.name}));
}

function updateRunRow(row, run) {
  const status = row.cells[2];
  status.textContent = run.status;
  status.className = 'status ' + run.status;
  status.title = run.error || '';
  row.cells[3].textContent = run.rounds ? `round ${run.round} of ${run.rounds}` : `round ${run.round}`;
  row.cells[4].textContent = run.status === 'running' ? duration(run.eta) : '';
  row.cells[5].textContent = run.last ? fmt(run.last.test_accuracy) : '';
  const actions = row.cells[6];
  const key = [run.status, run.resumable, run.round > 0, run.rounds].join();
  if (actions.dataset.key === key) return;
  actions.dataset.key = key;
  actions.replaceChildren();
  if (run.status === 'queued' || run.status === 'running') {
    const stop = el('button', {id: 'stop-' + run.name}, 'Stop');
    stop.addEventListener('click', () => {  // one signal: a second would end the round early
      stop.disabled = true;
      stop.textContent = 'Stopping…';
      act(run.name, 'stop');
    });
    actions.append(stop);
  } else if (run.resumable && run.status !== 'finished') {
    actions.append(el('button', {id: 'resume-' + run.name, onclick: () => act(run.name, 'resume')}, 'Resume'));
  }
  if (!['queued', 'running', 'external'].includes(run.status) && run.round > 0 && run.config_file) {
    const more = el('input', {id: 'extend-rounds-' + run.name, type: 'number', min: '1', value: '10', class: 'short'});
    actions.append(' ', more, el('button', {id: 'extend-' + run.name, onclick: () =>
      act(run.name, 'resume', {rounds: (run.rounds || 0) + Number(more.value)})}, 'Extend'));
  }
}

async function act(name, action, body) {
  try {
    await post(`/api/runs/${encodeURIComponent(name)}/${action}`, body);
    say('runs-message', `${action} ${name}: done`, true);
  } catch (error) {
    say('runs-message', `${action} ${name}: ${error.message}`);
  }
}

function watch(name) {
  state.watched = name;
  state.watchedRound = -1;
  $('live-title').textContent = 'Run ' + name;
  refreshWatched();
}

async function refreshWatched() {
  const name = state.watched;
  const run = state.runs.find((r) => r.name === name);
  if (!name) return;
  $('run-error').textContent = run && run.error ? run.error : '';
  const progress = run ? `${run.status} ${run.round}` : '';
  if (progress === state.watchedRound) return;
  state.watchedRound = progress;
  const current = newest('watched');  // watch() of another run starts a newer one
  let rows, output;
  try {
    rows = (await api(`/api/runs/${encodeURIComponent(name)}/metrics`)).metrics;
    output = (await api(`/api/runs/${encodeURIComponent(name)}/console`)).console;
  } catch (error) {
    if (current()) $('run-error').textContent = error.message;
    return;
  }
  if (!current()) return;
  $('run-console').textContent = output.trimEnd().split('\n').slice(-12).join('\n');
  const x = rows.map((r) => r.round);
  Plotly.react('live-chart', [
    {x, y: rows.map((r) => r.test_accuracy), name: 'test_accuracy', mode: 'lines+markers'},
    {x, y: rows.map((r) => r.test_loss), name: 'test_loss', mode: 'lines+markers', yaxis: 'y2'},
  ], {margin: {t: 20, r: 60}, xaxis: {title: {text: 'round'}},
      yaxis: {title: {text: 'test_accuracy'}}, yaxis2: {title: {text: 'test_loss'}, overlaying: 'y', side: 'right'},
      legend: {orientation: 'h'}}, {responsive: true});
}

function connect() {
  const source = new EventSource('/api/events' + (TOKEN ? '?token=' + encodeURIComponent(TOKEN) : ''));
  source.addEventListener('runs', (event) => {
    state.runs = JSON.parse(event.data).runs;
    $('connection').textContent = 'live';
    drawRuns();
    refreshWatched();
  });
  source.onerror = () => { $('connection').textContent = 'reconnecting'; };
}

// ---- compare ----
async function drawCompare() {
  const known = new Set(state.runs.map((r) => r.name));
  for (const name of state.selected) if (!known.has(name)) state.selected.delete(name);
  const query = [...state.selected].map((n) => 'run=' + encodeURIComponent(n)).join('&');
  const current = newest('compare');
  let body;
  try {
    body = await api('/api/compare?' + query);
    if (!current()) return;
    say('compare-message', state.selected.size ? '' : 'No runs ticked.');
  } catch (error) {
    if (current()) say('compare-message', error.message);
    return;
  }
  const select = $('compare-metric');
  const keep = select.value || 'test_accuracy';
  select.replaceChildren(...body.metrics.map((m) => el('option', {value: m}, m)));
  if (body.metrics.includes(keep)) select.value = keep;
  const metric = select.value;
  const xKey = $('compare-x').value;
  let traces;
  if ($('compare-group').checked && xKey === 'round') {
    traces = body.groups.flatMap((g) => {
      const c = g.curves[metric] || {round: [], mean: [], std: []};
      const label = g.runs.length > 1 ? `${g.label} (${g.runs.length} seeds)` : g.label;
      const upper = c.mean.map((m, i) => m + c.std[i]);
      const lower = c.mean.map((m, i) => m - c.std[i]);
      return [{x: c.round, y: upper, mode: 'lines', line: {width: 0}, showlegend: false, hoverinfo: 'skip'},
              {x: c.round, y: lower, mode: 'lines', line: {width: 0}, fill: 'tonexty', showlegend: false, hoverinfo: 'skip'},
              {x: c.round, y: c.mean, mode: 'lines+markers', name: label}];
    });
  } else {
    traces = body.runs.map((r) => {
      const rows = r.rows.filter((row) => typeof row[metric] === 'number' && typeof row[xKey] === 'number');
      return {x: rows.map((row) => row[xKey]), y: rows.map((row) => row[metric]), mode: 'lines+markers', name: r.name};
    });
  }
  say('compare-message', xKey === 'virtual_time' && traces.every((t) => t.x.length === 0)
    ? 'None of these runs is on the virtual clock (no virtual_time); see docs/client_behaviour.md' : '');
  Plotly.react('compare-chart', traces, {margin: {t: 20}, xaxis: {title: {text: $('compare-x').selectedOptions[0].text}},
                                         yaxis: {title: {text: metric}}, legend: {orientation: 'h'}}, {responsive: true});
  const table = $('compare-config');
  table.replaceChildren(el('tr', {}, el('th', {}, 'run'), ...body.fields.map((f) => el('th', {}, f))),
                        ...body.runs.map((r) => el('tr', {}, el('th', {}, r.name),
                                                   ...body.fields.map((f) => el('td', {}, String(r.config[f]))))));
}

for (const id of ['compare-metric', 'compare-x', 'compare-group']) $(id).addEventListener('change', drawCompare);

// ---- clients ----
async function drawClients() {
  const name = $('clients-run').value;
  if (!name) return;
  const current = newest('clients');
  const body = await api(`/api/runs/${encodeURIComponent(name)}/clients`);
  if (!current()) return;
  $('clients-note').textContent = body.round == null ? 'No evaluation yet.'
    : `Accuracy and loss on each client's own training data at round ${body.round}; local train loss and update norm from the last round the client trained in.`;
  const accuracies = body.clients.map((c) => c.accuracy).filter((a) => a != null);
  Plotly.react('clients-chart', [{x: accuracies, type: 'histogram', nbinsx: 20, name: 'clients'}],
               {margin: {t: 30}, title: {text: 'Per-client accuracy on own training data'},
                xaxis: {title: {text: 'accuracy'}}, yaxis: {title: {text: 'clients'}}}, {responsive: true});
  $('clients-table').tBodies[0].replaceChildren(...body.clients.map((c) => el('tr', {},
    ...[c.client, c.name ?? '', c.examples ?? '', c.times_sampled, c.last_round ?? '', fmt(c.train_loss),
        fmt(c.update_norm), fmt(c.accuracy), fmt(c.loss)].map((v) => el('td', {}, String(v))))));
}

$('clients-run').addEventListener('change', drawClients);

// ---- data ----
async function loadDatasets() {
  state.datasets = (await api('/api/datasets')).datasets;
  const select = $('dataset-select');
  const keep = select.value;
  select.replaceChildren(el('option', {value: ''}, "the config's own data"),
                         ...state.datasets.map((d) => el('option', {value: d.name}, d.name)));
  select.value = state.datasets.some((d) => d.name === keep) ? keep : '';
  $('datasets').replaceChildren(...state.datasets.map((d) => el('div', {class: 'dataset'},
    el('h3', {}, `${d.name} (${d.rows} rows)`),
    el('table', {}, el('tr', {}, ...d.columns.map((c) => el('th', {}, c))),
       ...d.preview.map((row) => el('tr', {}, ...row.map((v) => el('td', {}, v))))))));
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
  $('download-model').href = `/api/runs/${encodeURIComponent(name)}/model.msgpack` + (TOKEN ? '?token=' + encodeURIComponent(TOKEN) : '');
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

// ---- start ----
(async () => {
  try {
    await loadDatasets();
    await loadConfigs();
    connect();
  } catch (error) {
    say('start-message', error.message);
  }
})();
