// A watched sweep: the heatmap of the final metric over two swept fields
// (mean over seeds and the fields not shown, best cell outlined), each
// cell's curve with its seeds' band in the line's colour, the frozen members
// and links to every member's report. The server computes the numbers
// (/api/runs/<name>/sweep, fedjax_sim/control/sweep_view.py).
'use strict';

const short = (field) => { const p = field.split('.'); return p.length > 2 ? `${p[0]}.${p[p.length - 1]}` : field; };
const valuesLabel = (values) => Object.entries(values).map(([k, v]) => `${short(k)}=${v}`).join(', ');

async function drawSweep(name) {
  const current = newest('sweep');
  const query = new URLSearchParams({x: $('sweep-x').value, y: $('sweep-y').value});
  let body;
  try {
    body = await api(`/api/runs/${encodeURIComponent(name)}/sweep?${query}`);
  } catch (error) {
    if (current()) say('sweep-note', error.message);
    return;
  }
  if (!current() || state.watched !== name) return;
  if (!body.ready) {
    say('sweep-note', 'The sweep has not started its first round yet (it builds and compiles its programs).', true);
    return;
  }
  say('sweep-note', `${body.members.length} members, axes (${body.mode}): ` +
      Object.entries(body.axes).map(([k, v]) => `${k} = ${v.join(', ')}`).join('; ') +
      (body.finished ? '. Finished.' : '. Running: the last evaluations so far.'), true);
  fillAxisSelects(body.choices, body.grid ? body.grid.fields : []);
  drawHeatmap(body.grid, body.metric, body.axes);
  drawSweepCurves(body.curves, body.metric);
  drawMembers(name, body.members);
}

function fillAxisSelects(choices, fields) {
  for (const [k, id] of [[0, 'sweep-x'], [1, 'sweep-y']]) {
    const select = $(id);
    const options = k === 1 && choices.length < 2 ? [] : choices;
    if ([...select.options].map((o) => o.value).join() !== options.join()) {
      select.replaceChildren(...options.map((c) => el('option', {value: c}, c)));
    }
    select.value = fields[k] || '';
    select.dataset.shown = select.value;
    select.parentElement.hidden = !options.length;
  }
}

// Choosing for x the field y shows (or the reverse) swaps the two.
function swapAxes(changed, other) {
  if ($(changed).value === $(other).value) $(other).value = $(changed).dataset.shown;
  if (state.watched) drawSweep(state.watched);
}

function drawHeatmap(grid, metric, axes) {
  if (!grid || grid.best === null) {
    Plotly.purge('sweep-heatmap');
    $('sweep-heatmap').hidden = true;
    const why = grid ? `no live member recorded ${metric} yet` : 'the sweep varies only seed (one cell: see its curve)';
    $('sweep-best').textContent = `No heatmap: ${why}.`;
    delete $('sweep-best').dataset.value;
    return;
  }
  $('sweep-heatmap').hidden = false;
  const two = grid.fields.length === 2;
  const xs = grid.ticks[0].map(String);
  const ys = two ? grid.ticks[1].map(String) : [''];
  const at = (i, j, m) => (two ? m[i][j] : m[i]);
  const z = ys.map((_, j) => xs.map((_, i) => at(i, j, grid.mean)));
  const [bx, by] = [grid.best[0], two ? grid.best[1] : 0];
  const annotations = [];
  ys.forEach((_, j) => xs.forEach((__, i) => {  // a category axis places by index
    const mean = at(i, j, grid.mean);
    const best = i === bx && j === by;
    annotations.push({x: i, y: j, showarrow: false, font: {color: '#fff'}, bgcolor: 'rgba(0, 0, 0, 0.35)',
                      text: mean == null ? 'no live member' : `${best ? '★ ' : ''}${fmt(mean)} ± ${fmt(at(i, j, grid.std))}`});
  }));
  Plotly.react('sweep-heatmap', [{type: 'heatmap', x: xs, y: ys, z, colorscale: 'Viridis',
                                  colorbar: {title: {text: metric}}, hoverongaps: false}],
               {margin: {t: 30}, title: {text: `final ${metric}: mean ± std over seeds` +
                  (Object.keys(axes).filter((k) => k !== 'seed' && !grid.fields.includes(k)).length ? ' and the fields not shown' : '')},
                xaxis: {title: {text: grid.fields[0]}, type: 'category'},
                yaxis: {title: {text: two ? grid.fields[1] : ''}, type: 'category'}, annotations,
                shapes: [{type: 'rect', x0: bx - 0.5, x1: bx + 0.5, y0: by - 0.5, y1: by + 0.5,
                          line: {color: 'red', width: 3}}]}, {responsive: true});
  const label = grid.fields.map((f, k) => `${short(f)}=${grid.ticks[k][grid.best[k]]}`).join(', ');
  const best = $('sweep-best');
  best.textContent = `Best cell (${metric.includes('loss') ? 'lowest' : 'highest'} mean, outlined in red): ${label}: ` +
                     `${fmt(grid.best_value)} ± ${fmt(grid.best_std)}`;
  best.dataset.value = String(grid.best_value);
}

function drawSweepCurves(curves, metric) {
  const traces = curves.flatMap((c, k) => {
    const color = COLORS[k % COLORS.length];
    const band = {mode: 'lines', line: {width: 0, color}, showlegend: false, hoverinfo: 'skip'};
    const name = `${c.best ? '★ ' : ''}${c.label}` + (c.seeds > 1 ? ` (${c.seeds} seeds)` : '');
    return [{...band, x: c.rounds, y: c.high},
            {...band, x: c.rounds, y: c.low, fill: 'tonexty', fillcolor: translucent(color)},
            {x: c.rounds, y: c.mean, mode: 'lines+markers', name, line: {color, width: c.best ? 3 : 1.5}, marker: {color}}];
  });
  const last = Math.max(0, ...curves.flatMap((c) => c.rounds));
  Plotly.react('sweep-curves', traces, {margin: {t: 30}, title: {text: `${metric} by round: mean over seeds, band min to max`},
                                        xaxis: {title: {text: 'round'}, dtick: last <= 20 ? 1 : undefined},
                                        yaxis: {title: {text: metric}}, legend: {orientation: 'h', y: -0.25}},
               {responsive: true});
}

function drawMembers(name, members) {
  const frozen = members.filter((m) => m.frozen);
  $('sweep-frozen').textContent = frozen.length
    ? 'Frozen (diverged; left out of the means): ' + frozen.map(
      (m) => `member ${m.index} (${valuesLabel(m.values)}) at round ${m.frozen.round}: ${m.frozen.reason}`).join('; ')
    : 'No member frozen.';
  const base = `/api/runs/${encodeURIComponent(name)}/members/`;
  $('sweep-members').replaceChildren(...members.map((m) => {
    const text = `member ${m.index}: ${valuesLabel(m.values)}` + (m.frozen ? ` (frozen at round ${m.frozen.round})` : '');
    return el('li', {}, m.report
      ? el('a', {id: `member-report-${m.index}`, target: '_blank', rel: 'noopener',
                 href: withToken(`${base}${encodeURIComponent(m.dir)}/report.html`)}, text)
      : text + ' (no report yet)');
  }));
}

$('sweep-x').addEventListener('change', () => swapAxes('sweep-x', 'sweep-y'));
$('sweep-y').addEventListener('change', () => swapAxes('sweep-y', 'sweep-x'));
