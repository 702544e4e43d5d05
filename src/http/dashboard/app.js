// Dashboard of mcp-memory-service: browse, search, store, edit, delete and restore memories,
// read their history, follow the live event stream and the analytics.
// Memory text is untrusted: every node is built with el()/svg() and text goes in as text nodes,
// never through innerHTML.
'use strict';

const KEY_STORAGE = 'mms.apiKey';
const CHANGE_EVENTS = ['memory_stored', 'memory_updated', 'memory_deleted', 'memory_restored', 'memory_redacted'];
const FEED_EVENTS = [...CHANGE_EVENTS, 'search_completed'];
const FEED_LIMIT = 60;
const SVG_NS = 'http://www.w3.org/2000/svg';

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  page: 1,
  pageSize: 20,
  hasMore: false,
  filter: { tags: '', match: 'any', type: '' },
  search: null, // the search whose results are shown, or null while browsing
  listTicket: 0, // the latest list request; older answers are dropped
  events: null,
  lastSeq: null, // the last log seq seen on the stream, for resuming by hand
  reconnectDelay: 1000,
  reconnectTimer: null,
  refreshTimer: null,
  keyPrompt: null, // {promise, resolve} while the key form is open
  editing: null,
  confirming: null,
  historyHash: null,
  logUpper: null, // the newest event of the log page shown, or null for the newest page
  logStack: [], // the pages above the one shown, for "Newer"
  logNext: null,
  logLastSeq: null,
  logTicket: 0,
  verified: {}, // filename -> the answer of its verification in this page
  restore: null, // {target, plan} of the previewed restore
  lastRestore: null, // the plan of the restore applied last, for its undo
  asOf: null, // {point, seq, at} while the page shows the store as it was; null for now
  travelTimer: null,
  redacting: null, // the memory the redaction dialog is about
};

// ---------- DOM helpers ----------

const $ = (id) => document.getElementById(id);

function build(node, props, children) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function el(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

function svg(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

function button(label, onclick, props = {}) {
  return el('button', { type: 'button', class: 'btn btn-small', onclick, ...props }, label);
}

function showModal(id) {
  const dialog = $(id);
  if (!dialog.open) dialog.showModal();
}

function closeModal(id) {
  const dialog = $(id);
  if (dialog.open) dialog.close();
}

// ---------- formatting ----------

function splitTags(text) {
  return text.split(',').map((t) => t.trim()).filter(Boolean);
}

function shortHash(hash) {
  return hash ? hash.slice(0, 10) : '';
}

function formatTime(value) {
  if (value == null) return '';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds >= 0 && seconds < 60) return 'just now';
  if (seconds >= 0 && seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds >= 0 && seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return date.toLocaleString();
}

function formatUptime(seconds) {
  const s = Math.floor(seconds || 0);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// Scores differ by mode: cosine-based in 0..1 (semantic and hybrid), or BM25 (tiny on small stores).
function formatScore(score) {
  const value = Number(score);
  return value !== 0 && Math.abs(value) < 0.01 ? value.toExponential(2) : value.toFixed(3);
}

// The start of a text, for previews.
function clip(text, length) {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

function formatNumber(value, digits = 0) {
  if (value == null || Number.isNaN(Number(value))) return '–';
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

// ---------- notices ----------

let noticeTimer = null;

function notify(text, kind = 'info', action = null) {
  const box = $('notice');
  box.replaceChildren(el('span', {}, text));
  if (action) box.append(button(action.label, () => { box.hidden = true; action.run(); }, { 'data-testid': 'notice-action' }));
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, kind === 'error' ? 12000 : 7000);
}

// Runs an async UI action, shows its error, and keeps its button disabled meanwhile.
async function guard(fn, control = null) {
  if (control) control.disabled = true;
  try {
    return await fn();
  } catch (err) {
    console.error(err);
    notify(err.message || String(err), 'error');
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

// ---------- API and key ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function describeError(status, body) {
  const detail = body && body.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join('.')}: ${d.msg}`).join('; ');
  if (detail && detail.error_description) return detail.error_description;
  return `The server answered ${status}`;
}

// Fetches JSON (a FormData body is sent as a multipart form); on 401 it asks for the key and tries again with it.
async function api(path, { method = 'GET', body } = {}) {
  const form = body instanceof FormData;
  for (;;) {
    const headers = { Accept: 'application/json' };
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    if (body !== undefined && !form) headers['Content-Type'] = 'application/json';
    const sent = body === undefined || form ? body : JSON.stringify(body);
    const res = await fetch(path, { method, headers, body: sent });
    const data = await res.json().catch(() => null);
    if (res.status === 401) {
      await askForKey(data);
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, describeError(res.status, data));
    return data;
  }
}

// Every request that met a 401 waits on the same prompt.
function askForKey(body) {
  if (!state.keyPrompt) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    state.keyPrompt = { promise, resolve };
    const refused = state.key && body && body.detail && body.detail.error === 'invalid_token';
    $('auth-error').textContent = refused ? 'The server refused this key. Try again.' : '';
    $('auth-error').hidden = !refused;
    $('api-key-input').value = '';
    showModal('auth-dialog');
    $('api-key-input').focus();
  }
  return state.keyPrompt.promise;
}

function setKey(key) {
  state.key = key;
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  $('forget-key').hidden = !key;
}

function onKeySubmit(event) {
  event.preventDefault();
  const key = $('api-key-input').value.trim();
  if (!key) return;
  setKey(key);
  closeModal('auth-dialog');
  const prompt = state.keyPrompt;
  state.keyPrompt = null;
  if (prompt) prompt.resolve();
}

function forgetKey() {
  setKey('');
  closeEvents();
  state.search = null;
  state.page = 1;
  $('list-summary').textContent = '';
  $('memory-list').replaceChildren();
  $('stats-grid').replaceChildren();
  notify('The API key was forgotten.', 'info');
  start();
}

// ---------- live events (SSE) ----------

function setStatus(status, title = '') {
  const pill = $('sse-status');
  pill.dataset.state = status;
  pill.textContent = status;
  pill.title = title;
}

function closeEvents() {
  clearTimeout(state.reconnectTimer);
  if (state.events) state.events.close();
  state.events = null;
  setStatus('offline');
}

// The browser reconnects by itself after a dropped stream (sending Last-Event-ID);
// only a refused stream (401, server down at start) is retried here, resuming with ?since=.
function connectEvents() {
  closeEvents();
  const params = new URLSearchParams();
  if (state.key) params.set('api_key', state.key);
  if (state.lastSeq != null) params.set('since', state.lastSeq);
  const query = params.toString();
  const source = new EventSource(`/api/events${query ? `?${query}` : ''}`);
  state.events = source;
  setStatus('connecting');
  source.onopen = () => {
    state.reconnectDelay = 1000;
    setStatus('live');
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setStatus('offline');
      scheduleReconnect();
    } else {
      setStatus('reconnecting');
    }
  };
  source.addEventListener('connection_established', onConnected);
  source.addEventListener('heartbeat', (e) => setStatus('live', `last heartbeat ${new Date().toLocaleTimeString()}`));
  for (const kind of FEED_EVENTS) source.addEventListener(kind, (e) => onServerEvent(kind, e));
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  const delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(delay * 2, 30000);
  state.reconnectTimer = setTimeout(async () => {
    // A cheap authenticated request first: it brings up the key form if the key is the problem.
    await guard(() => api('/api/events/stats'));
    connectEvents();
  }, delay);
}

function parseEvent(event) {
  try {
    return JSON.parse(event.data) || {};
  } catch {
    return {};
  }
}

function onConnected(event) {
  const data = parseEvent(event);
  setStatus('live', data.message || '');
  if (state.lastSeq == null && data.last_seq != null) state.lastSeq = data.last_seq;
}

function onServerEvent(kind, event) {
  const data = parseEvent(event);
  if (data.seq != null) {
    if (state.lastSeq != null && data.seq <= state.lastSeq) return; // already seen (replayed on resume)
    state.lastSeq = data.seq;
    setTravelEnd(data.seq);
  }
  addFeedItem(kind, data);
  if (CHANGE_EVENTS.includes(kind)) scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    guard(refreshView);
    guard(loadStats);
    if (state.historyHash && $('history-dialog').open) guard(() => openHistory(state.historyHash));
    followLog();
  }, 250);
}

const FEED_LABELS = {
  memory_stored: 'stored',
  memory_updated: 'updated',
  memory_deleted: 'deleted',
  memory_restored: 'restored',
  memory_redacted: 'redacted',
  search_completed: 'search',
};

function feedDetail(kind, data) {
  if (kind === 'search_completed') {
    return `“${data.query || ''}” · ${data.search_type || ''} · ${data.results_count ?? 0} results`;
  }
  if (data.content_preview) return data.content_preview;
  return data.tags && data.tags.length ? `tags: ${data.tags.join(', ')}` : '';
}

function addFeedItem(kind, data) {
  const feed = $('activity-feed');
  const hash = data.content_hash;
  const detail = feedDetail(kind, data);
  const time = new Date(data.timestamp || Date.now());
  const item = el('li', { class: `feed-item kind-${FEED_LABELS[kind]}`, 'data-testid': 'feed-item', 'data-kind': kind, 'data-hash': hash },
    el('div', { class: 'feed-head' },
      el('span', { class: 'feed-kind' }, FEED_LABELS[kind]),
      data.interface ? el('span', { class: 'muted' }, `via ${data.interface}`) : null,
      el('time', { class: 'muted', datetime: data.timestamp }, time.toLocaleTimeString())),
    detail ? el('div', { class: 'feed-detail' }, detail) : null,
    hash ? el('button', {
      type: 'button', class: 'link', 'data-testid': 'feed-history', onclick: () => guard(() => openHistory(hash)),
    }, shortHash(hash)) : null);
  feed.prepend(item);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}

// ---------- list and search ----------

function refreshView() {
  return state.search ? runSearch() : loadMemories();
}

async function loadMemories() {
  const ticket = ++state.listTicket;
  const params = new URLSearchParams({ page: state.page, page_size: state.pageSize });
  if (state.filter.tags) {
    params.set('tag', splitTags(state.filter.tags).join(','));
    params.set('tag_match', state.filter.match);
  }
  if (state.filter.type) params.set('memory_type', state.filter.type);
  if (state.asOf) params.set('as_of', state.asOf.point);
  const data = await api(`/api/memories?${params}`);
  if (ticket !== state.listTicket) return;
  noteAsOf(data.as_of);
  if (data.memories.length === 0 && state.page > 1) {
    state.page -= 1; // the last page emptied (a delete); show the one before
    await loadMemories();
    return;
  }
  state.hasMore = data.has_more;
  renderList(data.memories.map((memory) => ({ memory })), 'No memories match.');
  renderPager(data);
}

function renderPager(data) {
  const first = data.total === 0 ? 0 : (data.page - 1) * data.page_size + 1;
  const last = (data.page - 1) * data.page_size + data.memories.length;
  $('page-info').textContent = `Page ${data.page} · ${first}–${last} of ${data.total}`;
  $('page-prev').disabled = data.page <= 1;
  $('page-next').disabled = !data.has_more;
  $('list-summary').textContent = `${formatNumber(data.total)} total${pastNote()}`;
}

async function runSearch() {
  const ticket = ++state.listTicket;
  let data;
  try {
    data = await fetchSearch(state.search);
  } catch (err) {
    if (ticket === state.listTicket) {
      renderList([], 'The search failed.');
      $('list-summary').textContent = '';
    }
    throw err;
  }
  if (ticket !== state.listTicket) return;
  noteAsOf(data.as_of);
  renderList(data.results, 'Nothing found.');
  $('list-summary').textContent =
    `${data.total_found} found · ${data.search_type} · ${formatNumber(data.processing_time_ms, 1)} ms${pastNote()}`;
}

function fetchSearch(s) {
  if (s.mode === 'similar') {
    return api(`/api/search/similar/${encodeURIComponent(s.query)}?n_results=${s.limit}`);
  }
  const asOf = state.asOf ? { as_of: state.asOf.point } : {};
  if (s.mode === 'tag') {
    const body = { tags: splitTags(s.query), match_all: s.matchAll, n_results: s.limit, ...asOf };
    return api('/api/search/by-tag', { method: 'POST', body });
  }
  if (s.mode === 'time') {
    return api('/api/search/by-time', { method: 'POST', body: { query: s.query, n_results: s.limit, ...asOf } });
  }
  return api('/api/search', { method: 'POST', body: { query: s.query, n_results: s.limit, mode: s.mode, ...asOf } });
}

function setBrowsing(browsing) {
  $('list-title').textContent = browsing ? 'Memories' : 'Search results';
  $('pager').hidden = !browsing;
  $('filter-form').hidden = !browsing;
  $('search-clear').hidden = browsing;
}

function renderList(items, emptyText) {
  const list = $('memory-list');
  if (!items.length) {
    list.replaceChildren(el('li', { class: 'empty', 'data-testid': 'list-empty' }, emptyText));
    return;
  }
  list.replaceChildren(...items.map(memoryCard));
}

function memoryCard(item) {
  const m = item.memory;
  const now = !state.asOf; // the past is read-only, and "similar" looks at the present
  return el('li', { class: 'memory', 'data-testid': 'memory-card', 'data-hash': m.content_hash },
    memoryMeta(m),
    el('p', {
      class: 'memory-content', 'data-testid': 'memory-content', title: 'Click to expand',
      onclick: (e) => e.currentTarget.classList.toggle('expanded'),
    }, m.content),
    el('div', { class: 'tags', 'data-testid': 'memory-tags' }, (m.tags || []).map(tagChip)),
    memoryScore(item),
    el('div', { class: 'actions' },
      now && button('Edit', () => openEdit(m), { 'data-testid': 'edit-btn' }),
      button('History', () => guard(() => openHistory(m.content_hash)), { 'data-testid': 'history-btn' }),
      now && button('Similar', () => guard(() => showSimilar(m.content_hash)), { 'data-testid': 'similar-btn' }),
      now && button('Delete', () => guard(() => deleteMemory(m)), { 'data-testid': 'delete-btn', class: 'btn btn-small btn-danger-ghost' }),
      now && button('Forget…', () => openRedact(m), {
        'data-testid': 'forget-btn', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Forget ${shortHash(m.content_hash)} for real`,
      })));
}

function memoryMeta(m) {
  const edited = m.updated_at && m.created_at && m.updated_at - m.created_at > 1;
  return el('div', { class: 'memory-meta' },
    m.memory_type ? el('span', { class: 'badge', 'data-testid': 'memory-type' }, m.memory_type) : null,
    el('time', { datetime: m.created_at_iso, title: m.created_at_iso }, formatTime(m.created_at)),
    edited ? el('span', { class: 'muted', title: `edited ${m.updated_at_iso}` }, 'edited') : null,
    el('code', { class: 'hash', title: m.content_hash }, shortHash(m.content_hash)));
}

function memoryScore({ similarity_score: score, relevance_reason: reason }) {
  if (score == null && !reason) return null;
  return el('div', { class: 'score', 'data-testid': 'memory-score' },
    score != null ? el('strong', {}, formatScore(score)) : null,
    reason ? el('span', { class: 'muted' }, reason) : null);
}

function tagChip(tag) {
  return el('button', {
    type: 'button', class: 'chip', 'data-testid': 'tag-chip', title: `Show memories tagged ${tag}`, onclick: () => filterByTag(tag),
  }, tag);
}

function filterByTag(tag) {
  $('filter-tags').value = tag;
  $('filter-match').value = 'any';
  $('filter-type').value = '';
  applyFilter();
}

function applyFilter(event) {
  if (event) event.preventDefault();
  state.filter = { tags: $('filter-tags').value.trim(), match: $('filter-match').value, type: $('filter-type').value.trim() };
  state.page = 1;
  showBrowse();
}

function showBrowse() {
  state.search = null;
  setBrowsing(true);
  return guard(loadMemories);
}

function onSearch(event) {
  event.preventDefault();
  const query = $('search-query').value.trim();
  if (!query) return;
  state.search = {
    mode: $('search-mode').value,
    query,
    limit: Number($('search-limit').value),
    matchAll: $('search-match-all').checked,
  };
  setBrowsing(false);
  guard(runSearch, $('search-submit'));
}

function showSimilar(hash) {
  state.search = { mode: 'similar', query: hash, limit: Number($('search-limit').value) };
  setBrowsing(false);
  return runSearch();
}

const SEARCH_PLACEHOLDERS = {
  semantic: 'Search by meaning…',
  keyword: 'Keywords (BM25)…',
  hybrid: 'Search by meaning (matching words count too)…',
  tag: 'tags: a, b',
  time: 'a time phrase: yesterday, last week, since 2026-01-01…',
};

function onSearchModeChange() {
  const mode = $('search-mode').value;
  $('search-query').placeholder = SEARCH_PLACEHOLDERS[mode];
  $('search-all-label').hidden = mode !== 'tag';
}

// ---------- store, edit, delete, restore ----------

async function storeMemory(event) {
  event.preventDefault();
  const content = $('store-content').value.trim();
  if (!content) return;
  const body = { content, tags: splitTags($('store-tags').value) };
  const type = $('store-type').value.trim();
  if (type) body.memory_type = type;
  await guard(async () => {
    const res = await api('/api/memories', { method: 'POST', body });
    if (!res.success) {
      notify(`${res.message || 'Not stored'} (${shortHash(res.content_hash)})`, 'warn');
      return;
    }
    notify(`Stored ${shortHash(res.content_hash)}.`, 'success');
    $('store-form').reset();
    await refreshView();
  }, $('store-submit'));
}

function openEdit(memory) {
  state.editing = memory;
  $('edit-preview').textContent = memory.content;
  $('edit-tags').value = (memory.tags || []).join(', ');
  $('edit-type').value = memory.memory_type || '';
  showModal('edit-dialog');
  $('edit-tags').focus();
}

async function saveEdit(event) {
  event.preventDefault();
  const m = state.editing;
  const tags = splitTags($('edit-tags').value);
  const type = $('edit-type').value.trim();
  const body = {};
  if (tags.join('\u0000') !== (m.tags || []).join('\u0000')) body.tags = tags;
  if (type && type !== (m.memory_type || '')) body.memory_type = type;
  if (Object.keys(body).length === 0) {
    closeModal('edit-dialog');
    notify('Nothing changed.', 'info');
    return;
  }
  await guard(async () => {
    const res = await api(`/api/memories/${encodeURIComponent(m.content_hash)}`, { method: 'PUT', body });
    closeModal('edit-dialog');
    notify(res.message || `Updated ${shortHash(m.content_hash)}.`, res.success === false ? 'warn' : 'success');
    await refreshView();
  }, $('edit-save'));
}

// An in-page confirmation (not window.confirm): resolves true on confirm, false otherwise.
function confirmAction(title, message, okLabel = 'Delete') {
  if (state.confirming) state.confirming(false);
  $('confirm-title').textContent = title;
  $('confirm-message').textContent = message;
  $('confirm-ok').textContent = okLabel;
  showModal('confirm-dialog');
  $('confirm-cancel').focus();
  return new Promise((resolve) => { state.confirming = resolve; });
}

function settleConfirm(answer) {
  const resolve = state.confirming;
  state.confirming = null;
  closeModal('confirm-dialog');
  if (resolve) resolve(answer);
}

async function deleteMemory(memory) {
  if (!(await confirmAction('Delete this memory?', clip(memory.content, 160)))) return;
  const hash = memory.content_hash;
  const res = await api(`/api/memories/${encodeURIComponent(hash)}`, { method: 'DELETE' });
  if (res.success === false) {
    notify(res.message || 'Not deleted', 'warn');
    return;
  }
  notify(`Deleted ${shortHash(hash)}.`, 'success', { label: 'Undo', run: () => guard(() => restoreMemory(hash)) });
  await refreshView();
}

async function restoreMemory(hash) {
  const res = await api(`/api/memories/${encodeURIComponent(hash)}/restore`, { method: 'POST' });
  notify(res.message || `Restored ${shortHash(hash)}.`, res.success === false ? 'warn' : 'success');
  await refreshView();
  if ($('history-dialog').open && state.historyHash === hash) await openHistory(hash);
}

// ---------- history ----------

async function openHistory(hash) {
  const data = await api(`/api/memories/${encodeURIComponent(hash)}/history`);
  state.historyHash = hash;
  const events = data.history || [];
  $('history-hash').textContent = shortHash(hash);
  $('history-hash').title = hash;
  $('history-list').replaceChildren(...events.map(historyItem));
  const last = events[events.length - 1];
  const deleted = last && last.kind === 'deleted';
  const redacted = last && last.kind === 'redacted';
  const archived = isArchived(events);
  const now = redacted ? 'redacted' : deleted ? 'deleted' : archived ? 'archived' : 'live';
  $('history-state').textContent = events.length ? `${events.length} event${events.length === 1 ? '' : 's'} · ${now}` : 'No events.';
  $('history-state').dataset.state = now;
  $('history-restore').hidden = !deleted;
  // An archived memory is out of the graph's walks until it is brought back.
  await renderRelations(hash, now === 'live');
  showModal('history-dialog');
}

// Whether a memory's events leave it archived: an archive stands until it is undone, deleted or stored again
// (updates and relations leave it as it is).
function isArchived(events) {
  let archived = false;
  for (const e of events) {
    if (e.kind === 'archived') archived = true;
    else if (['unarchived', 'deleted', 'stored', 'undeleted', 'redacted'].includes(e.kind)) archived = false;
  }
  return archived;
}

// ---------- relations (the memory graph) ----------

const GRAPH_RADIUS = 2; // relations around the memory the small graph shows
const GRAPH_NODES = 40; // at most this many memories in it

// A live memory's relations (either end) and a small graph of the memories within GRAPH_RADIUS of it.
async function renderRelations(hash, live) {
  const section = $('relations');
  section.hidden = true;
  if (!live) return;
  const [{ relations = [] }, sub] = await Promise.all([
    api(`/api/memories/${encodeURIComponent(hash)}/relations`),
    api(`/api/graph/subgraph/${encodeURIComponent(hash)}?radius=${GRAPH_RADIUS}`),
  ]);
  $('relations-count').textContent = `(${relations.length})`;
  const items = relations.map((edge) => relationItem(hash, edge));
  $('relations-list').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'No relations: relate memories from the CLI, HTTP or MCP.')]));
  $('relations-graph').replaceChildren(...(sub.edges.length ? [graphSvg(hash, sub.nodes.slice(0, GRAPH_NODES), sub.edges)] : []));
  section.hidden = false;
}

// One relation as the memory at `hash` sees it: the type, which way, the other memory, strength and reason.
function relationItem(hash, edge) {
  const outgoing = edge.source === hash;
  const other = outgoing ? edge.target : edge.source;
  const arrow = edge.symmetric ? '↔' : outgoing ? '→' : '←';
  const detail = [`similarity ${formatNumber(edge.similarity, 2)}`, edge.reason ? `reason: ${edge.reason}` : null,
    edge.created_by ? `by ${edge.created_by}` : null].filter(Boolean).join(' · ');
  return el('li', { 'data-testid': 'relation', 'data-type': edge.relationship_type, 'data-other': other },
    el('span', { class: 'relation-type' }, `${arrow} ${edge.relationship_type}`), ' ',
    el('button', { type: 'button', class: 'link', title: other, 'data-testid': 'relation-open', onclick: () => guard(() => openHistory(other)) },
      el('code', {}, shortHash(other))),
    el('span', { class: 'muted' }, ` ${detail}`));
}

// The memories around `center` on a circle (the centre in the middle) and their relations as lines, each
// labelled with its type; a click on a memory opens its history.
function graphSvg(center, nodes, edges) {
  const size = 320;
  const middle = size / 2;
  const ring = middle - 40;
  const others = nodes.filter((n) => n !== center);
  const at = new Map([[center, [middle, middle]]]);
  others.forEach((n, i) => {
    const angle = (2 * Math.PI * i) / others.length - Math.PI / 2;
    at.set(n, [middle + ring * Math.cos(angle), middle + ring * Math.sin(angle)]);
  });
  const lines = edges.filter((e) => at.has(e.source) && at.has(e.target)).map((e) => {
    const [[x1, y1], [x2, y2]] = [at.get(e.source), at.get(e.target)];
    return svg('g', { 'data-testid': 'graph-edge', 'data-type': e.relationship_type },
      svg('line', { class: 'graph-edge', x1, y1, x2, y2, 'marker-end': e.symmetric ? null : 'url(#graph-arrow)' }),
      svg('text', { class: 'label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, 'text-anchor': 'middle' }, e.relationship_type),
      svg('title', {}, `${shortHash(e.source)} ${e.relationship_type} ${shortHash(e.target)}`));
  });
  const circles = [...at.entries()].map(([hash, [x, y]]) =>
    svg('g', { 'data-testid': 'graph-node', 'data-hash': hash, class: hash === center ? 'graph-node center' : 'graph-node', onclick: () => guard(() => openHistory(hash)) },
      svg('circle', { cx: x, cy: y, r: hash === center ? 10 : 7 }),
      svg('text', { class: 'label', x, y: y + 20, 'text-anchor': 'middle' }, shortHash(hash)),
      svg('title', {}, hash)));
  return svg('svg', { viewBox: `0 0 ${size} ${size}`, class: 'graph-svg', role: 'img', 'aria-label': 'Memories related to this one', 'data-testid': 'graph-svg' },
    svg('defs', {}, svg('marker', { id: 'graph-arrow', viewBox: '0 0 10 10', refX: 18, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' }))),
    ...lines, ...circles);
}

function historyItem(event) {
  const props = { class: `timeline-item kind-${event.kind}`, 'data-testid': 'history-event', 'data-kind': event.kind, 'data-seq': event.seq };
  const diff = event.erased ? null : historyDiff(event);
  return el('li', props,
    el('div', { class: 'timeline-head' },
      el('span', { class: 'seq' }, `#${event.seq}`),
      el('strong', { class: 'timeline-kind' }, event.erased ? `${event.kind} (erased)` : event.kind),
      el('span', { class: 'muted', 'data-testid': 'history-who' },
        `v${event.version} · via ${event.interface}${event.actor ? ` · by ${event.actor}` : ''}`),
      el('time', { class: 'muted', datetime: event.at, title: event.at }, new Date(event.at).toLocaleString())),
    diff || el('ul', { class: 'changes' }, describeChanges(event).map((line) => el('li', {}, line))),
    historyActions(event));
}

// What the memory's changeable fields were before and after an update, one row per changed field.
function fieldChanges(before, after) {
  const rows = [];
  const tagText = (tags) => (tags && tags.length ? tags.join(', ') : '∅');
  if (tagText(before.tags) !== tagText(after.tags)) rows.push(['tags', tagText(before.tags), tagText(after.tags)]);
  if ((before.memory_type || null) !== (after.memory_type || null)) {
    rows.push(['type', before.memory_type || '∅', after.memory_type || '∅']);
  }
  if ((before.content || null) !== (after.content || null) && before.content != null && after.content != null) {
    rows.push(['content', before.content, after.content]);
  }
  const was = before.metadata || {};
  const now = after.metadata || {};
  for (const key of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const a = JSON.stringify(was[key]);
    const b = JSON.stringify(now[key]);
    if (a !== b) rows.push([`metadata.${key}`, a ?? '∅', b ?? '∅']);
  }
  return rows;
}

// A before/after table for an update (or an undelete that changed the record back), else null.
function historyDiff(event) {
  if (!event.before || !event.after) return null;
  const rows = fieldChanges(event.before, event.after);
  const caption = event.kind === 'undeleted' ? 'restored, with these changes' : 'changes';
  if (!rows.length) return null;
  return el('table', { class: 'diff', 'data-testid': 'history-diff' },
    el('caption', { class: 'muted' }, caption),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'field'), el('th', { scope: 'col' }, 'before'), el('th', { scope: 'col' }, 'after'))),
    el('tbody', {}, rows.map(([field, before, after]) => el('tr', { 'data-field': field },
      el('th', { scope: 'row' }, field),
      el('td', {}, before === '∅' ? '∅' : el('del', {}, before)),
      el('td', {}, after === '∅' ? '∅' : el('ins', {}, after))))));
}

// [label, testid, run(seq)]: what can be done from an event, in a timeline or the log (filled by the panels).
const EVENT_ACTIONS = [];

// Links from an event to the store as it was right after it (time travel) and to a restore to it.
function historyActions(event) {
  if (!EVENT_ACTIONS.length) return null;
  return el('div', { class: 'actions' }, EVENT_ACTIONS.map(([label, testid, run]) =>
    button(label, () => { closeModal('history-dialog'); guard(() => run(event.seq)); }, { 'data-testid': testid })));
}

// What an event changed, as short lines of text.
function describeChanges(event) {
  const before = event.before;
  const after = event.after;
  if (event.erased) return ['erased by a later redaction'];
  const why = event.reason ? [`reason: ${event.reason}`] : [];
  if (event.kind === 'redacted') return ['forgotten for real: content, tags, type, metadata and vector erased', ...why];
  if (event.kind === 'deleted') return ['removed from the store (kept in the log)', ...why];
  if (event.kind === 'archived') return ['archived: out of searches and lists until unarchived', ...why];
  if (event.kind === 'unarchived') return ['unarchived: back in searches and lists'];
  if (event.relation) {
    const r = event.relation;
    const made = event.kind === 'related';
    const lines = [`${made ? 'related' : 'unrelated'}: ${r.relationship_type} ${shortHash(r.target_hash)}`];
    if (made && r.similarity != null) lines.push(`similarity: ${formatNumber(r.similarity, 2)}`);
    if (r.reason) lines.push(`reason: ${r.reason}`);
    return lines;
  }
  if (!before && after) {
    const lines = [`content: ${clip(after.content, 120)}`];
    if (after.tags && after.tags.length) lines.push(`tags: ${after.tags.join(', ')}`);
    if (after.memory_type) lines.push(`type: ${after.memory_type}`);
    if (event.kind === 'undeleted') lines.unshift('restored');
    return lines;
  }
  if (!before || !after) return [event.kind];
  return [event.kind === 'undeleted' ? 'restored as it was' : 'no visible change'];
}

// ---------- event log ----------

const LOG_CHUNK = 250; // events read per request while looking for a page of matches
const LOG_SCAN_LIMIT = 5000; // events looked through for one page before stopping to ask

function logFilters() {
  return {
    kind: $('log-kind').value,
    hash: $('log-hash').value.trim().toLowerCase(),
    iface: $('log-interface').value,
  };
}

function logMatches(entry, f) {
  if (f.kind && entry.kind !== f.kind) return false;
  if (f.hash && !entry.content_hash.startsWith(f.hash)) return false;
  if (f.iface && entry.interface !== f.iface) return false;
  return true;
}

// One page of the log, newest first: events at or below `upper` (null: the newest) that match the filters.
// The log is read backwards in chunks; the filters apply in the page, since /api/log pages by sequence only.
async function loadLog() {
  const ticket = ++state.logTicket;
  const size = Number($('log-page-size').value);
  const f = logFilters();
  const head = await api('/api/log?limit=1');
  const last = head.last_seq;
  const top = state.logUpper == null ? last : Math.min(state.logUpper, last);
  const found = [];
  let cursor = top; // every event above cursor (up to top) has been looked at
  while (cursor > 0 && found.length < size && top - cursor < LOG_SCAN_LIMIT) {
    const since = Math.max(0, cursor - LOG_CHUNK);
    const page = await api(`/api/log?since=${since}&limit=${cursor - since}`);
    const events = (page.events || []).filter((e) => e.seq <= cursor).reverse();
    let consumed = since;
    for (const entry of events) {
      if (found.length === size) { consumed = entry.seq; break; }
      if (logMatches(entry, f)) found.push(entry);
    }
    cursor = consumed;
  }
  if (ticket !== state.logTicket) return;
  state.logLastSeq = last;
  setTravelEnd(last);
  state.logNext = cursor > 0 ? cursor : null; // where the next older page starts
  $('log-rows').replaceChildren(...(found.length ? found.map(logRow)
    : [el('tr', { 'data-testid': 'log-empty' }, el('td', { colspan: 8, class: 'muted' }, 'No events match.'))]));
  const filtered = f.kind || f.hash || f.iface;
  $('log-summary').textContent = `${formatNumber(last)} events${filtered ? ' · filtered' : ''}`;
  $('log-page-info').textContent = top > 0
    ? `events #${cursor + 1}–#${top}${state.logUpper == null ? ' (newest)' : ''}` : 'the log is empty';
  $('log-newer').disabled = state.logStack.length === 0;
  $('log-older').disabled = state.logNext == null;
}

function logRow(entry) {
  const preview = entry.memory ? entry.memory.content
    : entry.after ? `tags: ${entry.after.tags.join(', ') || '∅'}${entry.after.memory_type ? ` · type: ${entry.after.memory_type}` : ''}`
      : entry.reason || '';
  return el('tr', {
    'data-testid': 'log-row', 'data-seq': entry.seq, 'data-kind': entry.kind, 'data-hash': entry.content_hash,
    'data-interface': entry.interface, class: entry.erased ? 'erased' : null,
  },
  el('td', { class: 'num' }, String(entry.seq)),
  el('td', { class: 'num' }, el('time', { datetime: entry.at, title: entry.at }, new Date(entry.at).toLocaleString())),
  el('td', {}, el('span', { class: `kind-pill kind-${entry.kind}` }, entry.erased ? `${entry.kind} (erased)` : entry.kind)),
  el('td', {},
    el('button', {
      type: 'button', class: 'link', 'data-testid': 'log-history', title: `History of ${entry.content_hash}`,
      onclick: () => guard(() => openHistory(entry.content_hash)),
    }, shortHash(entry.content_hash)),
    preview ? el('span', { class: 'log-preview', title: preview }, preview) : null),
  el('td', {}, entry.interface),
  el('td', {}, entry.actor || '–'),
  el('td', { class: 'num' }, `v${entry.version}`),
  el('td', {}, EVENT_ACTIONS.length ? el('div', { class: 'actions' }, EVENT_ACTIONS.map(([label, testid, run]) =>
    button(label, () => guard(() => run(entry.seq)), { 'data-testid': `log-${testid}`, 'aria-label': `${label}: event ${entry.seq}` })))
    : null));
}

function logNewest() {
  state.logUpper = null;
  state.logStack = [];
  return guard(loadLog);
}

function logOlder() {
  if (state.logNext == null) return;
  state.logStack.push(state.logUpper);
  state.logUpper = state.logNext;
  guard(loadLog);
}

function logNewer() {
  if (!state.logStack.length) return;
  state.logUpper = state.logStack.pop();
  guard(loadLog);
}

// A change on the stream: the newest page follows it when "follow live" is on.
function followLog() {
  if (state.logUpper == null && $('log-follow').checked) guard(loadLog);
}

// ---------- backups ----------

function formatBytes(bytes) {
  if (bytes == null) return '–';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024, 1)} KiB`;
  return `${formatNumber(bytes / 1024 / 1024, 1)} MiB`;
}

async function loadBackups() {
  const [status, listing] = await Promise.all([api('/api/backup/status'), api('/api/backup/list')]);
  renderSchedule(status);
  const backups = listing.backups || [];
  renderBackupChoices(backups);
  $('backup-rows').replaceChildren(...(backups.length ? backups.map(backupRow)
    : [el('tr', { 'data-testid': 'backup-empty' }, el('td', { colspan: 7, class: 'muted' }, 'No backups yet.'))]));
}

function renderSchedule(s) {
  const facts = [
    ['Schedule', s.enabled ? `${s.interval}${s.scheduler_running ? '' : ' (scheduler not running)'}` : 'off (on demand only)', 'schedule'],
    ['Retention', `${s.retention_days} days, at most ${s.max_count} backups`, 'retention'],
    ['Next', s.enabled && s.next_backup_at ? new Date(s.next_backup_at).toLocaleString() : '–', 'next'],
    ['Last', s.last_backup_time ? new Date(s.last_backup_time).toLocaleString() : 'never', 'last'],
    ['Kept', `${formatNumber(s.backup_count)} backups, ${formatBytes(s.total_size_bytes)}`, 'kept'],
    ['Directory', s.backup_directory, 'directory'],
  ];
  $('backup-schedule').replaceChildren(...facts.flatMap(([label, value, key]) =>
    [el('dt', {}, label), el('dd', { 'data-testid': `backup-${key}` }, value)]));
}

function verdict(filename) {
  const v = state.verified[filename];
  if (!v) return el('span', { class: 'muted' }, 'not checked here');
  if (v.running) return el('span', { class: 'muted', 'aria-busy': 'true' }, 'verifying…');
  return v.valid
    ? el('span', { class: 'verdict-ok', title: `replayed: ${v.events} events, ${v.memories} memories` }, 'valid')
    : el('span', { class: 'verdict-bad', title: v.error }, `damaged: ${v.error}`);
}

function backupRow(b) {
  const taken = new Date(b.created_at);
  return el('tr', { 'data-testid': 'backup-row', 'data-filename': b.filename, 'data-kind': b.kind },
    el('td', { class: 'num' }, el('time', { datetime: b.created_at, title: b.filename }, taken.toLocaleString())),
    el('td', {}, b.kind || 'full'),
    el('td', { class: 'num' }, formatBytes(b.size_bytes)),
    el('td', { class: 'num' }, formatNumber(b.events)),
    el('td', { class: 'num' }, formatNumber(b.memories)),
    el('td', { 'data-testid': 'backup-verdict' }, verdict(b.filename)),
    el('td', {}, el('div', { class: 'actions' },
      button('Verify', (e) => guard(() => verifyBackup(b.filename), e.currentTarget),
        { 'data-testid': 'backup-verify', 'aria-label': `Verify ${b.filename}` }),
      BACKUP_ACTIONS.map(([label, testid, run]) =>
        button(label, () => guard(() => run(b.filename)), { 'data-testid': testid, 'aria-label': `${label}: ${b.filename}` })))));
}

// [label, testid, run(filename)]: what else can be done with a backup (filled by the restore panel).
const BACKUP_ACTIONS = [];

async function backupNow() {
  const full = $('backup-full').checked;
  $('backup-progress').textContent = 'Backing up…';
  try {
    const res = await api(`/api/backup/now${full ? '?full=true' : ''}`, { method: 'POST' });
    $('backup-progress').textContent = res.unchanged
      ? `Nothing written since ${res.filename}: it already holds every event, so no new backup was taken.`
      : `Backed up: ${res.filename} (${res.manifest ? res.manifest.kind : 'full'}, ${formatBytes(res.size_bytes)}, ${formatNumber(res.duration_seconds, 2)} s).`;
    $('backup-progress').dataset.filename = res.filename;
    notify(res.unchanged ? `No change since ${res.filename}.` : `Backed up to ${res.filename}.`, 'success');
  } catch (err) {
    $('backup-progress').textContent = `The backup failed: ${err.message}`;
    throw err;
  } finally {
    await loadBackups();
  }
}

async function verifyBackup(filename) {
  state.verified[filename] = { running: true };
  await loadBackups();
  try {
    const res = await api(`/api/backup/verify/${encodeURIComponent(filename)}`, { method: 'POST' });
    state.verified[filename] = res;
    notify(res.valid ? `${filename} is valid: ${res.events} events, ${res.memories} memories.`
      : `${filename} is damaged: ${res.error}`, res.valid ? 'success' : 'error');
  } catch (err) {
    state.verified[filename] = { valid: false, error: err.message };
    throw err;
  } finally {
    await loadBackups();
  }
}

// ---------- restore with preview ----------

const PLAN_PREVIEWS = 50; // memories of each list whose content is fetched for the preview

// The restore the form asks for, as POST /api/restore's body without dry_run.
function restoreTarget() {
  const by = document.querySelector('input[name="restore-by"]:checked').value;
  if (by === 'seq') {
    const seq = $('restore-seq').value.trim();
    if (!/^\d+$/.test(seq)) throw new Error('Give the number of an event (the log panel shows them).');
    return { to_seq: Number(seq) };
  }
  if (by === 'time') {
    const local = $('restore-time').value;
    if (!local) throw new Error('Pick a moment.');
    return { to_time: new Date(local).toISOString() };
  }
  const backup = $('restore-backup').value;
  if (!backup) throw new Error('There is no backup to restore.');
  return { backup };
}

function describeTarget(target, plan) {
  const when = plan.target_at ? ` (${new Date(plan.target_at).toLocaleString()})` : '';
  if (target.backup) return `the backup ${target.backup}, event #${plan.target_seq}${when}`;
  return `right after event #${plan.target_seq}${when}`;
}

async function previewRestore(event) {
  if (event) event.preventDefault();
  const target = restoreTarget();
  const plan = await api('/api/restore', { method: 'POST', body: { ...target, dry_run: true } });
  state.restore = { target, plan };
  await renderPlan(target, plan, 'Preview');
  $('restore-apply').disabled = false;
}

async function renderPlan(target, plan, label) {
  const box = $('restore-plan');
  box.dataset.targetSeq = plan.target_seq;
  box.dataset.fromSeq = plan.from_seq;
  box.dataset.dryRun = plan.dry_run;
  const counts = [plan.come_back.length, plan.disappear.length, plan.change.length];
  $('restore-summary').textContent = `${label}: restoring to ${describeTarget(target, plan)} brings ${counts[0]} back, `
    + `removes ${counts[1]} and changes ${counts[2]} back; ${formatNumber(plan.memories_after)} memories after.`
    + (plan.relations_restored || plan.relations_removed
      ? ` Relations: ${plan.relations_restored} made again, ${plan.relations_removed} removed.` : '')
    + (plan.dry_run ? '' : ` Done: ${plan.appended_seqs.length} events appended after event #${plan.from_seq}.`);
  const lists = [['come-back', plan.come_back, plan.target_seq], ['disappear', plan.disappear, null], ['change', plan.change, plan.target_seq]];
  await Promise.all(lists.map(async ([name, hashes, asOf]) => {
    $(`restore-count-${name}`).textContent = `(${hashes.length})`;
    const items = await Promise.all(hashes.map((hash, i) => planItem(hash, i < PLAN_PREVIEWS && plan.dry_run ? asOf : undefined)));
    $(`restore-${name}`).replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'none')]));
  }));
  box.hidden = false;
}

// One memory of a plan: its hash and, for the first few, the start of its content then (asOf) or now (null).
async function planItem(hash, asOf) {
  let content = '';
  if (asOf !== undefined) {
    const query = asOf == null ? '' : `?as_of=${asOf}`;
    const memory = await api(`/api/memories/${encodeURIComponent(hash)}${query}`).catch(() => null);
    if (memory && memory.content) content = clip(memory.content, 90);
  }
  return el('li', { 'data-hash': hash },
    el('button', { type: 'button', class: 'link', title: hash, onclick: () => guard(() => openHistory(hash)) }, el('code', {}, shortHash(hash))),
    content);
}

async function applyRestore() {
  const { target, plan: preview } = state.restore || {};
  if (!target) return;
  const total = preview.come_back.length + preview.disappear.length + preview.change.length;
  const relations = preview.relations_restored + preview.relations_removed;
  if (!(await confirmAction('Apply this restore?',
    `${total} memories${relations ? ` and ${relations} relations` : ''} change. History is kept: the restore appends events, and "Undo the restore" reverses it.`, 'Restore'))) return;
  const plan = await api('/api/restore', { method: 'POST', body: { ...target, dry_run: false } });
  state.restore = null;
  state.lastRestore = plan;
  $('restore-apply').disabled = true;
  $('restore-undo').hidden = false;
  await renderPlan(target, plan, 'Applied');
  notify(`Restored to event #${plan.target_seq}.`, 'success',
    { label: 'Undo', run: () => guard(undoRestore) });
  await Promise.all([refreshView(), loadStats(), loadLog()]);
}

// Undo = a restore to the event just before the applied one; previewed first like any restore.
async function undoRestore() {
  if (!state.lastRestore) return;
  await restoreTo({ to_seq: state.lastRestore.from_seq });
  $('restore-undo').hidden = true;
}

// Fills the form with a target, brings the panel into view and previews.
async function restoreTo(target) {
  if (target.to_seq != null) {
    document.querySelector('input[name="restore-by"][value="seq"]').checked = true;
    $('restore-seq').value = target.to_seq;
  } else if (target.backup) {
    document.querySelector('input[name="restore-by"][value="backup"]').checked = true;
    $('restore-backup').value = target.backup;
  }
  $('restore-panel').scrollIntoView({ block: 'start' });
  $('restore-preview').focus();
  await previewRestore();
}

function renderBackupChoices(backups) {
  const chosen = $('restore-backup').value;
  $('restore-backup').replaceChildren(...backups.map((b) =>
    el('option', { value: b.filename, selected: b.filename === chosen }, `${new Date(b.created_at).toLocaleString()} · ${b.kind} · ${b.filename}`)));
}

EVENT_ACTIONS.push(['Restore to here', 'restore-to', (seq) => restoreTo({ to_seq: seq })]);
BACKUP_ACTIONS.push(['Restore…', 'backup-restore', (backup) => restoreTo({ backup })]);

// ---------- time travel ----------

// The event or moment the page shows the store at, from the slider or the time picker; the answers say which
// event that was (noteAsOf), and the banner says so until "Back to now".
async function travelTo(point) {
  const before = state.asOf;
  state.asOf = { point, seq: null, at: null };
  state.page = 1;
  try {
    await Promise.all([refreshView(), loadStats()]);
  } catch (err) {
    state.asOf = before;
    renderPast();
    throw err;
  }
  renderPast();
}

function noteAsOf(asOf) {
  if (state.asOf && asOf) Object.assign(state.asOf, { seq: asOf.seq, at: asOf.at });
}

function pastNote() {
  return state.asOf && state.asOf.seq != null ? ` · as of event #${state.asOf.seq}` : '';
}

function renderPast() {
  const past = state.asOf;
  document.body.classList.toggle('past-view', Boolean(past));
  $('past-banner').hidden = !past;
  for (const control of $('store-form').elements) control.disabled = Boolean(past);
  if (!past) return;
  const when = past.at ? new Date(past.at).toLocaleString() : 'before the first event';
  $('past-text').textContent = `Past view: the store as it was right after event #${past.seq} (${when}). `
    + 'Nothing was restored; changes are off until you go back to now.';
  $('past-banner').dataset.seq = past.seq;
  $('travel-slider').value = past.seq;
  $('travel-label').textContent = `#${past.seq}`;
}

async function backToNow() {
  state.asOf = null;
  state.page = 1;
  renderPast();
  setTravelEnd(Number($('travel-slider').max));
  await Promise.all([refreshView(), loadStats()]);
}

// The slider spans the log; while showing the present, and not being moved, it sits at the newest event.
function setTravelEnd(lastSeq) {
  const slider = $('travel-slider');
  slider.max = Math.max(Number(slider.max), lastSeq);
  if (!state.asOf && !state.travelTimer) {
    slider.value = slider.max;
    $('travel-label').textContent = `#${slider.max} (now)`;
  }
}

// Moving the slider (mouse or arrow keys) travels once it rests for a moment.
function onTravelSlide() {
  const seq = $('travel-slider').value;
  $('travel-label').textContent = `#${seq}`;
  clearTimeout(state.travelTimer);
  state.travelTimer = setTimeout(() => {
    state.travelTimer = null;
    guard(() => travelTo(`seq:${seq}`));
  }, 300);
}

function onTravelSubmit(event) {
  event.preventDefault();
  clearTimeout(state.travelTimer);
  state.travelTimer = null;
  const local = $('travel-time').value;
  const point = local ? new Date(local).toISOString() : `seq:${$('travel-slider').value}`;
  guard(() => travelTo(point), $('travel-go'));
}

EVENT_ACTIONS.unshift(['View the store then', 'travel-to', (seq) => travelTo(`seq:${seq}`)]);

// ---------- redaction ----------

function openRedact(memory) {
  state.redacting = memory;
  $('redact-preview').textContent = clip(memory.content, 240);
  $('redact-word').textContent = shortHash(memory.content_hash);
  $('redact-reason').value = '';
  $('redact-confirm').value = '';
  $('redact-ok').disabled = true;
  $('redact-error').hidden = true;
  showModal('redact-dialog');
  $('redact-reason').focus();
}

// Whether the confirmation typed is the memory's short hash.
function redactConfirmed() {
  const memory = state.redacting;
  return Boolean(memory) && $('redact-confirm').value.trim() === shortHash(memory.content_hash);
}

function onRedactTyping() {
  $('redact-ok').disabled = !redactConfirmed();
}

async function submitRedact(event) {
  event.preventDefault();
  const memory = state.redacting;
  if (!redactConfirmed()) return;
  const reason = $('redact-reason').value.trim();
  let res;
  try {
    res = await api(`/api/memories/${encodeURIComponent(memory.content_hash)}/redact`,
      { method: 'POST', body: reason ? { reason } : {} });
  } catch (err) {
    $('redact-error').textContent = err.status === 403
      ? 'Refused: forgetting a memory needs the admin scope, which this credential lacks. Use the API key or a token granted admin.'
      : err.message;
    $('redact-error').hidden = false;
    return;
  }
  state.redacting = null;
  closeModal('redact-dialog');
  const scrubbed = (res.backups_scrubbed || []).length;
  notify(`Forgotten for real${scrubbed ? `, and erased from ${scrubbed} backup${scrubbed === 1 ? '' : 's'}` : ''}.`, 'success');
  await refreshView();
  await openHistory(memory.content_hash);
}

// ---------- stats and charts ----------

const OVERVIEW_FIELDS = [
  ['total_memories', 'Memories', (v) => formatNumber(v)],
  ['memories_this_week', 'This week', (v) => formatNumber(v)],
  ['memories_this_month', 'This month', (v) => formatNumber(v)],
  ['unique_tags', 'Unique tags', (v) => formatNumber(v)],
  ['database_size_mb', 'Database', (v) => `${formatNumber(v, 2)} MB`],
  ['uptime_seconds', 'Uptime', formatUptime],
];

async function loadStats() {
  const period = $('growth-period').value;
  const [overview, growth, tags, types] = await Promise.allSettled([
    api(`/api/analytics/overview${state.asOf ? `?as_of=${encodeURIComponent(state.asOf.point)}` : ''}`),
    api(`/api/analytics/memory-growth?period=${encodeURIComponent(period)}`),
    api('/api/analytics/tag-usage?limit=10'),
    api('/api/analytics/memory-types'),
  ]);
  if (overview.status === 'fulfilled') {
    noteAsOf(overview.value.as_of);
    renderOverview(overview.value);
  }
  if (growth.status === 'fulfilled') $('chart-growth').replaceChildren(growthChart(growth.value.data_points || []));
  if (tags.status === 'fulfilled') $('chart-tags').replaceChildren(tagChart(tags.value.tags || []));
  if (types.status === 'fulfilled') renderTypeOptions(types.value.types || []);
  const failed = [overview, growth, tags, types].find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function renderOverview(data) {
  $('stats-panel').dataset.asOf = data.as_of ? data.as_of.seq : '';
  $('stats-grid').replaceChildren(...OVERVIEW_FIELDS.map(([key, label, format]) =>
    el('div', { class: 'stat' },
      el('dt', {}, label),
      el('dd', { 'data-testid': `stat-${key}` }, format(data[key])))));
}

function renderTypeOptions(types) {
  $('type-options').replaceChildren(...types.filter((t) => t.memory_type && t.memory_type !== 'untyped').map((t) => el('option', { value: t.memory_type })));
}

function chartProps(width, height, label, testid) {
  return { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': label, 'data-testid': testid };
}

function emptyChart(text) {
  return el('p', { class: 'muted chart-empty' }, text);
}

// Bars for memories added per day, a line for the running total.
function growthChart(points) {
  if (!points.length) return emptyChart('No memories yet.');
  const width = 320;
  const height = 140;
  const top = 14;
  const bottom = 20;
  const plot = height - top - bottom;
  const maxCount = Math.max(1, ...points.map((p) => p.count));
  const maxTotal = Math.max(1, ...points.map((p) => p.cumulative));
  const step = width / points.length;
  const barWidth = Math.max(1, step * 0.7);
  const bars = points.map((p, i) => {
    const h = (p.count / maxCount) * plot;
    const x = i * step + (step - barWidth) / 2;
    return svg('rect', { class: 'bar', x, y: top + plot - h, width: barWidth, height: Math.max(h, p.count ? 1 : 0), rx: 1.5 },
      svg('title', {}, `${p.date}: +${p.count} (total ${p.cumulative})`));
  });
  const line = points.map((p, i) => `${(i + 0.5) * step},${top + plot - (p.cumulative / maxTotal) * plot}`).join(' ');
  const total = points[points.length - 1].cumulative;
  return svg('svg', chartProps(width, height, 'Memories added per day', 'growth-svg'),
    svg('line', { class: 'axis', x1: 0, x2: width, y1: top + plot, y2: top + plot }),
    ...bars,
    svg('polyline', { class: 'trend', points: line }, svg('title', {}, `running total, up to ${maxTotal}`)),
    svg('text', { class: 'label', x: 0, y: 10 }, `max ${maxCount}/day · total ${total}`),
    svg('text', { class: 'label', x: 0, y: height - 4 }, points[0].date),
    svg('text', { class: 'label', x: width, y: height - 4, 'text-anchor': 'end' }, points[points.length - 1].date));
}

// One horizontal bar per tag.
function tagChart(tags) {
  if (!tags.length) return emptyChart('No tags yet.');
  const width = 320;
  const rowHeight = 22;
  const labelWidth = 110;
  const countWidth = 36;
  const max = Math.max(1, ...tags.map((t) => t.count));
  const rows = tags.map((t, i) => {
    const y = i * rowHeight;
    const w = ((width - labelWidth - countWidth) * t.count) / max;
    const label = t.tag.length > 16 ? `${t.tag.slice(0, 15)}…` : t.tag;
    return svg('g', { 'data-testid': 'tag-bar' },
      svg('title', {}, `${t.tag}: ${t.count}${t.percentage != null ? ` (${formatNumber(t.percentage, 1)}%)` : ''}`),
      svg('text', { class: 'label', x: labelWidth - 6, y: y + 15, 'text-anchor': 'end' }, label),
      svg('rect', { class: 'bar', x: labelWidth, y: y + 4, width: Math.max(w, 2), height: rowHeight - 8, rx: 2 }),
      svg('text', { class: 'label', x: labelWidth + w + 4, y: y + 15 }, String(t.count)));
  });
  return svg('svg', chartProps(width, tags.length * rowHeight, 'Most used tags', 'tags-svg'), ...rows);
}

// ---------- wiring ----------

function changePage(delta) {
  state.page = Math.max(1, state.page + delta);
  guard(loadMemories);
}

function bindEvents() {
  $('auth-form').addEventListener('submit', onKeySubmit);
  $('auth-dialog').addEventListener('cancel', (e) => e.preventDefault()); // the key is required
  $('forget-key').addEventListener('click', forgetKey);
  $('notice').addEventListener('click', () => { $('notice').hidden = true; });
  $('store-form').addEventListener('submit', storeMemory);
  $('store-content').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('store-form').requestSubmit();
  });
  $('search-form').addEventListener('submit', onSearch);
  $('search-mode').addEventListener('change', onSearchModeChange);
  $('search-clear').addEventListener('click', showBrowse);
  $('filter-form').addEventListener('submit', applyFilter);
  $('filter-reset').addEventListener('click', () => { $('filter-form').reset(); applyFilter(); });
  $('page-prev').addEventListener('click', () => changePage(-1));
  $('page-next').addEventListener('click', () => changePage(1));
  $('page-size').addEventListener('change', () => {
    state.pageSize = Number($('page-size').value);
    state.page = 1;
    guard(loadMemories);
  });
  $('edit-form').addEventListener('submit', saveEdit);
  $('edit-cancel').addEventListener('click', () => closeModal('edit-dialog'));
  $('confirm-form').addEventListener('submit', (e) => { e.preventDefault(); settleConfirm(true); });
  $('confirm-cancel').addEventListener('click', () => settleConfirm(false));
  $('confirm-dialog').addEventListener('close', () => settleConfirm(false));
  $('history-close').addEventListener('click', () => closeModal('history-dialog'));
  $('history-restore').addEventListener('click', () => guard(() => restoreMemory(state.historyHash), $('history-restore')));
  $('stats-refresh').addEventListener('click', () => guard(loadStats, $('stats-refresh')));
  $('growth-period').addEventListener('change', () => guard(loadStats));
  $('feed-clear').addEventListener('click', () => $('activity-feed').replaceChildren());
  $('log-filters').addEventListener('submit', (e) => { e.preventDefault(); logNewest(); });
  for (const id of ['log-kind', 'log-interface', 'log-page-size']) $(id).addEventListener('change', logNewest);
  $('log-hash').addEventListener('input', () => { clearTimeout(state.logHashTimer); state.logHashTimer = setTimeout(logNewest, 250); });
  $('log-follow').addEventListener('change', followLog);
  $('log-older').addEventListener('click', logOlder);
  $('backup-now').addEventListener('click', () => guard(backupNow, $('backup-now')));
  $('restore-form').addEventListener('submit', (e) => guard(() => previewRestore(e), $('restore-preview')));
  $('restore-form').addEventListener('change', () => { state.restore = null; $('restore-apply').disabled = true; });
  $('restore-apply').addEventListener('click', () => guard(applyRestore, $('restore-apply')));
  $('restore-undo').addEventListener('click', () => guard(undoRestore, $('restore-undo')));
  $('log-newer').addEventListener('click', logNewer);
  $('travel-slider').addEventListener('input', onTravelSlide);
  $('travel-form').addEventListener('submit', onTravelSubmit);
  $('past-now').addEventListener('click', () => guard(backToNow, $('past-now')));
  $('redact-form').addEventListener('submit', (e) => guard(() => submitRedact(e), $('redact-ok')));
  $('redact-confirm').addEventListener('input', onRedactTyping);
  $('redact-cancel').addEventListener('click', () => closeModal('redact-dialog'));
}

async function start() {
  setKey(state.key);
  state.pageSize = Number($('page-size').value);
  setBrowsing(true);
  await guard(loadMemories); // first alone: a 401 brings up the key form once, not once per panel
  guard(loadStats);
  logNewest();
  guard(loadBackups);
  if (!state.events) connectEvents();
}

document.addEventListener('DOMContentLoaded', () => {
  bindEvents();
  onSearchModeChange();
  start();
});
