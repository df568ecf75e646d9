// The Compare and Clients tabs: ticked runs on one chart, and a run's clients.
'use strict';

// ---- compare ----
async function drawCompare() {
  if (state.runs.length) {  // the runs are known (not yet right after a reload)
    const known = new Set(state.runs.map((r) => r.name));
    for (const name of state.selected) if (!known.has(name)) state.selected.delete(name);
  }
  const query = [...state.selected].map((n) => 'run=' + encodeURIComponent(n)).join('&');
  const current = newest('compare');
  let body;
  try {
    body = await api('/api/compare?' + query);
    if (!current()) return;
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
  const grouped = $('compare-group').checked && xKey === 'round';
  const traces = grouped ? groupTraces(body.groups, metric) : runTraces(body.runs, metric, xKey);
  const notes = [];
  if (!state.selected.size) notes.push('No runs ticked.');
  if ($('compare-group').checked && !grouped) {
    notes.push('Seed groups are drawn against rounds only (the seeds of a group differ in ' +
               'wall and virtual time); each run is drawn on its own.');
  }
  if (xKey === 'virtual_time' && state.selected.size && traces.every((t) => t.x.length === 0)) {
    notes.push('None of these runs is on the virtual clock (no virtual_time); see docs/client_behaviour.md');
  }
  say('compare-message', notes.join(' '));
  Plotly.react('compare-chart', traces, {margin: {t: 20}, xaxis: {title: {text: $('compare-x').selectedOptions[0].text}},
                                         yaxis: {title: {text: metric}}, legend: {orientation: 'h'}}, {responsive: true});
  const table = $('compare-config');
  table.replaceChildren(el('tr', {}, el('th', {}, 'run'), ...body.fields.map((f) => el('th', {}, f))),
                        ...body.runs.map((r) => el('tr', {}, el('th', {}, r.name),
                                                   ...body.fields.map((f) => configCell(r.config[f])))));
}

// Plotly's default colours, given out explicitly so a band is its line's colour.
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
                '#7f7f7f', '#bcbd22', '#17becf'];
const translucent = (hex) => `rgba(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')}, 0.2)`;

function groupTraces(groups, metric) {
  return groups.flatMap((g, k) => {
    const color = COLORS[k % COLORS.length];
    const c = g.curves[metric] || {round: [], mean: [], std: []};
    const label = g.runs.length > 1 ? `${g.label} (${g.runs.length} seeds)` : g.label;
    const upper = c.mean.map((m, i) => m + c.std[i]);
    const lower = c.mean.map((m, i) => m - c.std[i]);
    const band = {mode: 'lines', line: {width: 0, color}, showlegend: false, hoverinfo: 'skip'};
    return [{...band, x: c.round, y: upper},
            {...band, x: c.round, y: lower, fill: 'tonexty', fillcolor: translucent(color)},
            {x: c.round, y: c.mean, mode: 'lines+markers', name: label, line: {color}, marker: {color}}];
  });
}

function runTraces(runs, metric, xKey) {
  return runs.map((r, k) => {
    const rows = r.rows.filter((row) => typeof row[metric] === 'number' && typeof row[xKey] === 'number');
    const color = COLORS[k % COLORS.length];
    return {x: rows.map((row) => row[xKey]), y: rows.map((row) => row[metric]), mode: 'lines+markers',
            name: r.name, line: {color}, marker: {color}};
  });
}

// A config value in the table of differences: a long list (data.features)
// as its length, the items in its tooltip.
function configCell(value) {
  if (Array.isArray(value) && value.length > 3) {
    return el('td', {title: value.join(', ')}, `${value.length} items: ${value.slice(0, 2).join(', ')}, …`);
  }
  return el('td', {}, Array.isArray(value) ? value.join(', ') : String(value));
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

