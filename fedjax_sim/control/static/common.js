// What the page's scripts share: the token, the page state (kept in the
// address, so reload and bookmarks keep it), API calls and DOM helpers.
'use strict';

const QUERY = new URLSearchParams(location.search);
const TOKEN = QUERY.get('token');
const TABS = ['runs', 'compare', 'clients', 'data', 'predict'];
const state = {runs: [], watched: null, watchedRound: -1,
               selected: new Set((QUERY.get('compare') || '').split(',').filter(Boolean)),
               tab: TABS.includes(QUERY.get('tab')) ? QUERY.get('tab') : 'runs',
               datasets: [], configs: [], csvConfig: null, started: null};
const $ = (id) => document.getElementById(id);
const withToken = (path) => path + (TOKEN ? (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN) : '');
const TOKEN_HINT = "this page's address has a missing or outdated token; open the address " +
                   'the control room printed when it started (scripts/dashboard.py)';

// The watched run, the tab and the Compare ticks, in the address (with the token).
function saveUrl() {
  const query = new URLSearchParams();
  if (TOKEN) query.set('token', TOKEN);
  if (state.tab !== 'runs') query.set('tab', state.tab);
  if (state.watched) query.set('run', state.watched);
  if (state.selected.size) query.set('compare', [...state.selected].join(','));
  history.replaceState(null, '', '?' + query.toString());
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
  const response = await fetch(path, Object.assign({}, options, {headers}));
  const body = await response.json();
  if (response.status === 401) {
    $('connection').textContent = 'wrong token';
    throw new Error(TOKEN_HINT);
  }
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
const remove = (path) => api(path, {method: 'DELETE'});

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
