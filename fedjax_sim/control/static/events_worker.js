// One event stream per browser, shared by every tab of the control room (a
// SharedWorker): over HTTP/1.1 a browser opens at most 6 connections to a
// host, so a stream per tab froze every tab once six were open. The worker
// forwards each `runs` event to every tab, and the latest to a tab that joins.
'use strict';

const token = new URLSearchParams(self.location.search).get('token');
const ports = new Set();
let last = null;
let source = null;

function send(message) {
  if (message.type === 'runs') last = message;
  for (const port of ports) port.postMessage(message);
}

function open() {
  source = new EventSource('/api/events' + (token ? '?token=' + encodeURIComponent(token) : ''));
  source.addEventListener('runs', (event) => send({type: 'runs', data: event.data}));
  source.onerror = () => send({type: 'error'});
}

self.onconnect = (event) => {
  const port = event.ports[0];
  ports.add(port);
  port.onmessage = (message) => {  // a tab leaves (pagehide) or comes back (pageshow)
    if (message.data === 'leave') ports.delete(port);
    if (message.data === 'join') { ports.add(port); if (last) port.postMessage(last); }
  };
  port.start();
  if (last) port.postMessage(last);
  if (!source) open();
};
