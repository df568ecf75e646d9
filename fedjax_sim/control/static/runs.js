// The runs table (Stop, Resume, Extend, Delete, report), the watched run's
// metric cards and live chart, and the live updates (one event stream per
// browser, shared by its tabs: events_worker.js).
'use strict';

const MAX_ROUNDS = 2 ** 31 - 1;  // round numbers are int32 on the device
// Cards of the watched run's last evaluation; binary tasks add the last four.
const CARDS = [['test_accuracy', 'accuracy'], ['test_loss', 'loss'], ['test_precision', 'precision'],
               ['test_recall', 'recall'], ['test_f1', 'F1'], ['test_roc_auc', 'ROC AUC']];

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
  // Clients lists runs with a round, Predict runs with a checkpoint (its
  // model); a tab draws only while it is shown (a hidden chart is drawn at
  // the wrong width, and a model is not loaded for nothing).
  fillRunSelect('clients-run', (r) => r.round > 0 && !r.sweep, 'clients', drawClients);
  fillRunSelect('predict-run', (r) => r.checkpoint, 'predict', loadPredict);
}

function fillRunSelect(id, wanted, tabName, draw) {
  const select = $(id);
  const keep = select.value;
  const names = state.runs.filter(wanted).map((r) => r.name);
  if ([...select.options].map((o) => o.value).join() === names.join()) return;
  select.replaceChildren(...names.map((n) => el('option', {value: n}, n)));
  if (names.includes(keep)) select.value = keep;
  if (select.value !== keep && state.tab === tabName) draw();
}

function newRunRow(run) {
  const box = el('input', {type: 'checkbox', class: 'select-run', 'data-run': run.name});
  box.checked = state.selected.has(run.name);
  box.addEventListener('change', () => {
    if (box.checked) state.selected.add(run.name); else state.selected.delete(run.name);
    saveUrl();
  });
  const link = el('a', {href: '#', onclick: (e) => { e.preventDefault(); watch(run.name); }}, run.name);
  return el('tr', {'data-run': run.name}, el('td', {}, box), el('td', {}, link),
            el('td', {id: 'status-' + run.name}), el('td', {id: 'progress-' + run.name}),
            el('td', {id: 'eta-' + run.name}), el('td', {id: 'accuracy-' + run.name}),
            el('td', {id: 'binary-' + run.name}), el('td', {id: 'actions-' + run.name}));
}

function updateRunRow(row, run) {
  const box = row.cells[0].firstChild;  // a sweep's members are compared in its own view
  box.disabled = !!run.sweep;
  box.title = run.sweep ? 'a sweep: watch it to compare its members' : '';
  const status = row.cells[2];
  status.textContent = run.status;
  status.className = 'status ' + run.status;
  status.title = run.error || '';
  row.cells[3].textContent = run.sweep ? sweepProgress(run)
    : run.rounds ? `round ${run.round} of ${run.rounds}` : `round ${run.round}`;
  row.cells[4].textContent = run.status === 'running' ? duration(run.eta) : '';
  row.cells[5].textContent = run.last ? fmt(run.last.test_accuracy) : run.sweep ? fmt(run.sweep.best) : '';
  row.cells[5].title = run.sweep ? 'the best cell: mean over its seeds' : '';
  const binary = run.last && typeof run.last.test_f1 === 'number';
  row.cells[6].textContent = binary ? `${fmt(run.last.test_f1, 3)} / ${fmt(run.last.test_roc_auc, 3) || '–'}` : '';
  const actions = row.cells[7];
  const key = [run.status, run.resumable, run.deletable, run.report, run.round > 0, run.rounds].join();
  if (actions.dataset.key === key) return;
  actions.dataset.key = key;
  actions.replaceChildren(...runActions(run));
}

// A sweep's line: its members and member-rounds done (groups train one after another).
function sweepProgress(run) {
  const s = run.sweep;
  if (!s.members) return 'sweep: starting';
  const frozen = s.frozen ? `, ${s.frozen} frozen` : '';
  return `sweep of ${s.members}: ${s.member_rounds} of ${s.total ?? '?'} member-rounds${frozen}`;
}

function runActions(run) {
  const name = run.name;
  const buttons = [];
  if (run.status === 'queued' || run.status === 'running') {
    const stop = el('button', {id: 'stop-' + name}, 'Stop');
    stop.addEventListener('click', () => {  // one signal: a second would end the round early
      stop.disabled = true;
      stop.textContent = 'Stopping…';
      act(name, 'stop');
    });
    buttons.push(stop);
  } else if (run.resumable && run.status !== 'finished') {
    buttons.push(el('button', {id: 'resume-' + name, onclick: () => act(name, 'resume')}, 'Resume'));
  }
  if (!['queued', 'running', 'external'].includes(run.status) && run.round > 0 && run.config_file) {
    const current = run.rounds || 0;
    const more = el('input', {id: 'extend-rounds-' + name, type: 'number', min: '1', step: '1',
                              max: String(MAX_ROUNDS - current), value: '10', class: 'short'});
    buttons.push(' ', more, el('button', {id: 'extend-' + name, onclick: () => extend(run, more.value)}, 'Extend'));
  }
  if (run.deletable) {
    buttons.push(' ', el('button', {id: 'delete-' + name, class: 'danger', onclick: () => deleteRun(name)}, 'Delete'));
  }
  if (run.report) {
    buttons.push(' ', el('a', {id: 'report-' + name, target: '_blank', rel: 'noopener',
                               href: withToken(`/api/runs/${encodeURIComponent(name)}/report.html`)}, 'report'));
  }
  return buttons;
}

// Extend by `more` rounds: the server takes an integer total in
// [rounds + 1, 2**31 - 1] and says so otherwise; the page sends what was typed.
function extend(run, more) {
  const added = Number(more);
  const rounds = Number.isSafeInteger(added) ? (run.rounds || 0) + added : more;
  act(run.name, 'resume', {rounds});
}

async function act(name, action, body) {
  try {
    await post(`/api/runs/${encodeURIComponent(name)}/${action}`, body);
    say('runs-message', `${action} ${name}: done`, true);
  } catch (error) {
    say('runs-message', `${action} ${name}: ${error.message}`);
  }
}

async function deleteRun(name) {
  if (!confirm(`Delete run ${name} and all its files (metrics, checkpoints, console)?`)) return;
  try {
    await remove(`/api/runs/${encodeURIComponent(name)}`);
    say('runs-message', `deleted ${name}`, true);
    if (state.watched === name) watch(null);
    state.selected.delete(name);
    saveUrl();
  } catch (error) {
    say('runs-message', `delete ${name}: ${error.message}`);
  }
}

function watch(name) {
  state.watched = name;
  state.watchedRound = -1;
  saveUrl();
  $('live-title').textContent = name ? 'Run ' + name : 'Select a run to watch it';
  for (const id of ['sweep-x', 'sweep-y']) $(id).replaceChildren();  // another sweep's fields
  if (!name) {
    $('sweep-view').hidden = true;
    $('live-chart').hidden = false;
    $('metric-cards').replaceChildren();
    $('run-console').textContent = '';
    Plotly.purge('live-chart');
  }
  refreshWatched();
}

function drawCards(row) {
  $('metric-cards').replaceChildren(...CARDS.filter(([key]) => row && typeof row[key] === 'number').map(
    ([key, label]) => el('div', {class: 'metric-card', id: 'card-' + key},
                         el('span', {class: 'metric-label'}, label), el('strong', {}, fmt(row[key])))));
}

async function refreshWatched() {
  const name = state.watched;
  const run = state.runs.find((r) => r.name === name);
  if (!name) return;
  $('run-error').textContent = run && run.error ? run.error : '';
  const progress = run ? `${run.status} ${run.round} ${run.sweep ? run.sweep.member_rounds : ''}` : '';
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
  const sweep = !!(run && run.sweep);
  $('sweep-view').hidden = !sweep;
  $('live-chart').hidden = sweep;
  if (sweep) {
    drawCards(null);
    drawSweep(name);
    return;
  }
  drawCards(rows[rows.length - 1]);
  const x = rows.map((r) => r.round);
  Plotly.react('live-chart', [
    {x, y: rows.map((r) => r.test_accuracy), name: 'test_accuracy', mode: 'lines+markers'},
    {x, y: rows.map((r) => r.test_loss), name: 'test_loss', mode: 'lines+markers', yaxis: 'y2'},
  ], {margin: {t: 20, r: 60}, xaxis: {title: {text: 'round'}},
      yaxis: {title: {text: 'test_accuracy'}}, yaxis2: {title: {text: 'test_loss'}, overlaying: 'y', side: 'right'},
      legend: {orientation: 'h'}}, {responsive: true});
}

function onRuns(data) {
  state.runs = JSON.parse(data).runs;
  $('connection').textContent = 'live';
  drawRuns();
  followStarted();
  refreshWatched();
}

async function onStreamError() {
  $('connection').textContent = 'reconnecting';
  try {
    await api('/api/runs');  // a wrong token is said, not retried forever in silence
  } catch (error) {
    if (error.message === TOKEN_HINT) say('runs-message', error.message);  // else: the server is away
  }
}

function connect() {
  if (typeof SharedWorker !== 'function') {  // a browser without shared workers: a stream per tab
    const source = new EventSource(withToken('/api/events'));
    source.addEventListener('runs', (event) => onRuns(event.data));
    source.onerror = onStreamError;
    return;
  }
  const worker = new SharedWorker(withToken('/static/events_worker.js'), {name: 'fedjax-sim-events'});
  worker.port.onmessage = (event) => (event.data.type === 'runs' ? onRuns(event.data.data) : onStreamError());
  worker.port.start();
  addEventListener('pagehide', () => worker.port.postMessage('leave'));
  addEventListener('pageshow', (event) => { if (event.persisted) worker.port.postMessage('join'); });
}
