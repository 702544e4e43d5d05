// The dashboard's sync panel (hybrid and cloudflare backends): the replica's status, pause, resume and force.
// Loaded after app.js, whose helpers it uses; hidden on a local-only store.
// Server strings (errors, device ids) are untrusted like memory text: text nodes only, never innerHTML.
'use strict';

const SYNC_BACKENDS = ['hybrid', 'cloudflare'];
const SYNC_POLL_MS = 3000;
// Events after which the status has moved: the replica's own, and every change (which leaves a push pending).
const SYNC_EVENTS = ['sync_progress', 'sync_completed', ...CHANGE_EVENTS];

const sync = {
  replicating: null, // null until the first status; false on a local-only store (the panel stays hidden)
  ticket: 0, // the latest status request; older answers are dropped
  pollTimer: null,
  eventTimer: null,
  source: null, // the event stream whose sync events are followed
};

// What the replica is doing, in one word (the panel's data-state) and in words.
function syncState(s) {
  if (s.paused) return ['paused', 'Paused: local writes wait until it resumes'];
  if (s.status === 'error') return ['error', s.token_refused ? 'Error: Cloudflare refused the API token' : 'Error'];
  if (s.is_running) return ['syncing', 'Syncing…'];
  return ['running', s.operations_pending > 0 ? 'Running, pushing' : 'Running, up to date'];
}

function reachability(s) {
  if (s.token_refused) return ['refused', 'reachable, but the API token was refused'];
  if (s.cloudflare_reachable === true) return ['true', 'reachable'];
  if (s.cloudflare_reachable === false) return ['false', 'unreachable'];
  return ['unknown', 'not contacted yet'];
}

function syncFact(label, key, value, data = {}) {
  return [el('dt', {}, label), el('dd', { 'data-testid': `sync-${key}`, ...data }, value)];
}

function renderSync(s) {
  const [stateKey, stateText] = syncState(s);
  const [reachKey, reachText] = reachability(s);
  const panel = $('sync-panel');
  panel.dataset.state = stateKey;
  const lastSync = s.last_sync_time > 0 ? new Date(s.last_sync_time * 1000) : null;
  $('sync-facts').replaceChildren(
    ...syncFact('Backend', 'backend', s.backend),
    ...syncFact('Device', 'device', el('code', {}, s.device_id)),
    ...syncFact('State', 'state', stateText, { 'data-state': stateKey }),
    ...syncFact('Pushed', 'pushed', `up to event #${formatNumber(s.pushed_seq)} of ${formatNumber(s.log_seq)}`,
      { 'data-pushed': s.pushed_seq, 'data-log': s.log_seq }),
    ...syncFact('Pending', 'pending', s.operations_pending === 1 ? '1 event' : `${formatNumber(s.operations_pending)} events`,
      { 'data-pending': s.operations_pending }),
    ...syncFact('Cloudflare', 'reachable', reachText, { 'data-reachable': reachKey }),
    ...syncFact('Last error', 'last-error', s.last_error || 'none', { 'data-error': s.last_error ? 'true' : 'false' }),
    ...syncFact('Last good sync', 'last-sync',
      lastSync ? el('time', { datetime: lastSync.toISOString(), title: lastSync.toLocaleString() }, formatTime(s.last_sync_time)) : 'never',
      { 'data-time': s.last_sync_time }),
    ...(s.operations_skipped > 0
      ? syncFact('Skipped', 'skipped', `${formatNumber(s.operations_skipped)} pulled events not applied`) : []),
  );
  const failures = s.failures || [];
  $('sync-failure-count').textContent = `(${failures.length})`;
  $('sync-failures').replaceChildren(...(failures.length ? failures.map(syncFailure)
    : [el('li', { class: 'muted', 'data-testid': 'sync-no-failures' }, 'None: every event was accepted.')]));
  const devices = Object.entries(s.devices || {});
  $('sync-device-rows').replaceChildren(...(devices.length ? devices.map(([device, pulled]) =>
    el('tr', { 'data-testid': 'sync-device-row', 'data-device': device, 'data-pulled': pulled },
      el('td', {}, el('code', {}, device)),
      el('td', { class: 'num' }, `#${formatNumber(pulled)}`)))
    : [el('tr', { 'data-testid': 'sync-no-devices' }, el('td', { colspan: 2, class: 'muted' }, 'No other device has pushed yet.'))]));
  $('sync-pause').hidden = s.paused;
  $('sync-resume').hidden = !s.paused;
}

function syncFailure(f) {
  return el('li', { 'data-testid': 'sync-failure', 'data-seq': f.seq, 'data-hash': f.content_hash },
    el('span', { class: 'muted' }, `#${f.seq}`), ' ',
    el('code', { title: f.content_hash }, shortHash(f.content_hash)), ' ',
    el('span', { 'data-testid': 'sync-failure-reason' }, f.message), ' ',
    el('time', { class: 'muted', datetime: f.at }, formatTime(f.at)));
}

async function loadSync() {
  const ticket = ++sync.ticket;
  const status = await api('/api/sync/status');
  if (ticket !== sync.ticket) return;
  sync.replicating = SYNC_BACKENDS.includes(status.backend);
  $('sync-panel').hidden = !sync.replicating;
  $('sync-panel').dataset.replicating = String(sync.replicating);
  if (sync.replicating) renderSync(status);
  followSyncEvents();
}

// Follows the sync events on app.js's stream, whichever it is now (it is replaced on a reconnect).
function followSyncEvents() {
  if (!sync.replicating || !state.events || state.events === sync.source) return;
  sync.source = state.events;
  for (const kind of SYNC_EVENTS) sync.source.addEventListener(kind, scheduleSyncLoad);
}

function scheduleSyncLoad() {
  clearTimeout(sync.eventTimer);
  sync.eventTimer = setTimeout(() => guard(loadSync), 200);
}

// Polls while the page is visible, as a stream can miss a pause made elsewhere (the CLI, MCP); stops for
// good on a local-only store.
function pollSync() {
  clearTimeout(sync.pollTimer);
  sync.pollTimer = setTimeout(async () => {
    if (document.visibilityState === 'visible') await guardedSyncLoad();
    if (sync.replicating !== false) pollSync();
  }, SYNC_POLL_MS);
}

// A failed poll is said in the panel rather than in a notice every few seconds.
async function guardedSyncLoad() {
  try {
    await loadSync();
  } catch (err) {
    if (sync.replicating) showSyncResult(`Could not read the sync status: ${err.message}`, false);
  }
}

// The outcome of the last action; `success` is left out while one runs.
function showSyncResult(text, success) {
  const result = $('sync-result');
  result.textContent = text;
  if (success == null) delete result.dataset.success;
  else result.dataset.success = String(success);
}

async function setSyncPaused(paused) {
  const res = await api(`/api/sync/${paused ? 'pause' : 'resume'}`, { method: 'POST' });
  showSyncResult(res.message, res.success);
  await loadSync();
  // The button pressed is hidden now: keep the keyboard focus on its counterpart.
  $(paused ? 'sync-resume' : 'sync-pause').focus();
}

async function forceSync() {
  showSyncResult('Pushing and pulling…');
  $('sync-result').setAttribute('aria-busy', 'true');
  try {
    const res = await api('/api/sync/force', { method: 'POST' });
    showSyncResult(`${res.message} (${formatNumber(res.time_taken_seconds, 2)} s)`, res.success);
    if (!res.success) notify(res.message, 'error');
  } catch (err) {
    showSyncResult(`Sync failed: ${err.message}`, false);
    throw err;
  } finally {
    $('sync-result').removeAttribute('aria-busy');
    await guardedSyncLoad();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('sync-pause').addEventListener('click', () => guard(() => setSyncPaused(true), $('sync-pause')));
  $('sync-resume').addEventListener('click', () => guard(() => setSyncPaused(false), $('sync-resume')));
  $('sync-force').addEventListener('click', () => guard(forceSync, $('sync-force')));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && sync.replicating) guardedSyncLoad();
  });
  guardedSyncLoad().then(pollSync);
});
