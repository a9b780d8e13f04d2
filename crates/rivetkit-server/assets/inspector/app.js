// The inspector page. Every call carries the inspector token from sessionStorage as
// `Authorization: Bearer`; the live view reads server-sent events through fetch (EventSource
// cannot send that header). Everything is rendered with textContent: actor data is never HTML.
'use strict';

// Where the server's routes are: the page is served at `{base}/ui`.
const base = location.pathname.replace(/\/ui\/?$/, '');
const TOKEN = 'rivetkit-inspector-token';
const SERVER_TOKEN = 'rivetkit-server-token';
// How many events the page keeps on screen.
const MAX_EVENTS = 50;
// Reconnection delays after a dropped stream, doubling up to the last.
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10000;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.group ? `${body.group}/${body.code}` : '';
  }
}

function authHeaders() {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN) || ''}` };
  const serverToken = sessionStorage.getItem(SERVER_TOKEN);
  if (serverToken) headers['x-rivet-token'] = serverToken;
  return headers;
}

async function api(path, body) {
  const init = { headers: authHeaders() };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(base + path, init);
  const parsed = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString();
}

function setStatus(text) {
  $('status').textContent = text;
}

// ---- token ----

function showLogin(message) {
  stopWatching();
  $('main').hidden = true;
  $('forget-token').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

async function openInspector() {
  $('login').hidden = true;
  $('main').hidden = false;
  $('forget-token').hidden = false;
  await search();
}

function failed(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    sessionStorage.removeItem(TOKEN);
    showLogin(`${error.message} (${error.code})`);
    return;
  }
  setStatus(`Error: ${error.message}${error.code ? ` (${error.code})` : ''}`);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN, $('token').value);
  const serverToken = $('server-token').value;
  if (serverToken) sessionStorage.setItem(SERVER_TOKEN, serverToken);
  else sessionStorage.removeItem(SERVER_TOKEN);
  $('token').value = '';
  $('server-token').value = '';
  openInspector().catch(failed);
});

$('forget-token').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(SERVER_TOKEN);
  showLogin();
});

// ---- actor list ----

let selectedId = null;

async function search() {
  const text = $('search').value.trim();
  const { actors, truncated } = await api(`/inspector/actors?search=${encodeURIComponent(text)}`);
  const list = $('actors');
  list.replaceChildren();
  for (const actor of actors) {
    const button = element('button');
    button.type = 'button';
    button.dataset.actorId = actor.id;
    button.setAttribute('aria-current', String(actor.id === selectedId));
    button.append(element('span', actor.name), ' ', element('span', json(actor.key).replace(/\s+/g, ''), 'key'));
    button.addEventListener('click', () => select(actor).catch(failed));
    const item = element('li');
    item.append(button);
    list.append(item);
  }
  $('actors-note').textContent = `${actors.length} actor${actors.length === 1 ? '' : 's'}${truncated ? ' (more not shown: refine the search)' : ''}`;
  setStatus('');
}

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  search().catch(failed);
});

// ---- one actor ----

async function select(actor) {
  selectedId = actor.id;
  for (const button of $('actors').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.actorId === actor.id));
  }
  $('actor').hidden = false;
  $('actor-title').textContent = `${actor.name} ${json(actor.key).replace(/\s+/g, '')}`;
  $('actor-id').textContent = actor.id;
  $('events').replaceChildren();
  $('action-output').textContent = '';
  const { rpcs } = await api(`/gateway/${encodeURIComponent(actor.id)}/inspector/rpcs`);
  $('action-name').replaceChildren(...rpcs.map((name) => element('option', name)));
  watch(actor.id);
}

const render = {
  state(value) {
    $('state').textContent = json(value);
  },
  connections(connections) {
    const rows = connections.map((conn) => {
      const row = element('tr');
      row.append(
        element('td', conn.id.slice(0, 8)),
        element('td', JSON.stringify(conn.params)),
        element('td', JSON.stringify(conn.state)),
        element('td', conn.subscriptions.join(', ')),
      );
      return row;
    });
    $('connections').replaceChildren(...rows);
  },
  queue(queue) {
    $('queue-size').textContent = `${queue.size} of at most ${queue.maxSize}${queue.truncated ? ' (first shown)' : ''}`;
    $('queue').replaceChildren(...queue.messages.map((message) => element('li', JSON.stringify(message))));
  },
  schedules(schedules) {
    if (!Array.isArray(schedules)) {
      $('schedules').replaceChildren(element('li', `cannot read: ${schedules.error}`, 'error'));
      return;
    }
    $('schedules').replaceChildren(
      ...schedules.map((alarm) => element('li', `${new Date(alarm.fireAt).toLocaleString()} ${alarm.action}(${JSON.stringify(alarm.args)})`)),
    );
  },
  broadcast(event) {
    const list = $('events');
    list.prepend(element('li', `${time(event.at)} ${event.name} ${JSON.stringify(event.args)}`));
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  },
  errors(errors) {
    $('errors').replaceChildren();
    for (const error of errors) render.error(error);
  },
  error(error) {
    $('errors').prepend(element('li', `${time(error.at)} ${error.source}: ${error.group}/${error.code} ${error.message}`, 'error'));
  },
};

// The stream being read, and how long to wait before reading it again after it dropped.
let watching = null;
let retryMs = RETRY_FIRST_MS;

function stopWatching() {
  if (watching) watching.abort();
  watching = null;
}

function watch(actorId) {
  stopWatching();
  const controller = new AbortController();
  watching = controller;
  $('rewatch').hidden = true;
  $('watch-status').textContent = 'connecting…';
  readEvents(actorId, controller.signal).then(
    (ending) => {
      if (controller.signal.aborted) return;
      if (ending === 'stopped') {
        $('watch-status').textContent = 'the actor stopped (asleep or destroyed); watching again wakes it';
        $('rewatch').hidden = false;
        return;
      }
      retryLater(actorId, controller, ending === 'lagged' ? 'fell behind' : 'stream ended');
    },
    (error) => {
      if (controller.signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503) {
        failed(error);
        $('watch-status').textContent = `not watching: ${error.message}`;
        $('rewatch').hidden = false;
        return;
      }
      retryLater(actorId, controller, error.message);
    },
  );
}

function retryLater(actorId, controller, why) {
  $('watch-status').textContent = `reconnecting (${why})…`;
  setTimeout(() => {
    if (watching === controller) watch(actorId);
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

$('rewatch').addEventListener('click', () => {
  if (selectedId) watch(selectedId);
});

// Reads the server-sent events of one actor until the stream ends; resolves with the name of
// the last event.
async function readEvents(actorId, signal) {
  const response = await fetch(`${base}/gateway/${encodeURIComponent(actorId)}/inspector/events`, {
    headers: authHeaders(),
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  $('watch-status').textContent = 'live';
  retryMs = RETRY_FIRST_MS;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffered += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue; // a keep-alive comment
      last = name;
      const handle = render[name];
      if (handle) handle(JSON.parse(data.join('\n')));
    }
  }
}

// ---- calling an action ----

$('call-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const output = $('action-output');
  let args;
  try {
    args = JSON.parse($('action-args').value || '[]');
  } catch (error) {
    output.textContent = `The arguments are not JSON: ${error.message}`;
    return;
  }
  if (!Array.isArray(args)) {
    output.textContent = 'The arguments must be a JSON array, e.g. [5]';
    return;
  }
  const name = $('action-name').value;
  output.textContent = `calling ${name}…`;
  try {
    const result = await api(`/gateway/${encodeURIComponent(selectedId)}/inspector/action/${encodeURIComponent(name)}`, { args });
    output.textContent = `${name} → ${json(result.output)}`;
  } catch (error) {
    output.textContent = `${name} failed: ${error.message}${error.code ? ` (${error.code})` : ''}`;
    if (error.status === 401 || error.status === 403) failed(error);
  }
});

if (sessionStorage.getItem(TOKEN)) openInspector().catch(failed);
else showLogin();
