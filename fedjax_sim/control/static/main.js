// The control room's page: talks to /api (JSON) and to /api/events (server-sent
// events, one stream per browser). Scripts: common.js (state, API, helpers),
// form.js, runs.js, views.js (Compare, Clients), data.js (Data, Predict).
'use strict';

for (const button of document.querySelectorAll('.tab')) {
  button.addEventListener('click', () => showTab(button.dataset.tab));
}

function showTab(name) {
  state.tab = name;
  saveUrl();
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
  for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== 'tab-' + name;
  if (name === 'compare') drawCompare();
  if (name === 'clients') drawClients();  // drawn while shown, at the panel's width
  if (name === 'predict') loadPredict();
}

(async () => {
  const watched = QUERY.get('run');  // the address's page state (a reload or a bookmark)
  showTab(state.tab);
  if (watched) watch(watched);
  try {
    await loadDatasets();
    await loadConfigs();
    connect();
  } catch (error) {
    say('start-message', error.message);
  }
})();
