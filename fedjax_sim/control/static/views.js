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

