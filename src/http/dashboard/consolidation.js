// The dashboard's consolidation panel: the schedule, a preview (dry run) or a run of one horizon with every
// action and why, and the archived memories, each of which can be brought back.
// Loaded after app.js, whose helpers it uses. Server strings (reasons, contents) are untrusted like memory
// text: text nodes only, never innerHTML.
'use strict';

const ARCHIVED_PAGE = 50; // archived memories listed (the most recently archived)
// Events after which the panel reloads: a run's end, and archiving either way.
const CONSOLIDATION_EVENTS = ['consolidation_completed', 'memory_archived', 'memory_unarchived'];
const ACTION_LABELS = { associate: 'link', summarise: 'summary', archive: 'archive' };

const consolidation = {
  source: null, // the event stream whose events are followed
  timer: null,
};

async function loadConsolidation() {
  const [status, archived] = await Promise.all([
    api('/api/consolidation/status'),
    api(`/api/memories/archived?page_size=${ARCHIVED_PAGE}`),
  ]);
  renderConsolidationSchedule(status.scheduler);
  renderArchived(archived);
  followConsolidationEvents();
}

function renderConsolidationSchedule(s) {
  const line = $('consolidation-schedule');
  line.dataset.enabled = String(s.enabled);
  if (!s.enabled) {
    line.textContent = 'Scheduled runs are off (MCP_CONSOLIDATION_ENABLED).';
    return;
  }
  const next = s.jobs.filter((j) => j.next_run_time).map((j) => `${j.horizon} ${formatTime(j.next_run_time)}${j.paused ? ' (paused)' : ''}`);
  line.textContent = `${s.run_in_progress ? `Running ${s.run_in_progress} now. ` : ''}Next: ${next.join(' · ') || 'none'}`;
}

function memoryLink(hash) {
  return button(shortHash(hash), () => guard(() => openHistory(hash)),
    { class: 'btn btn-ghost btn-small hash-link', title: `${hash}: open its history`, 'data-hash': hash });
}

function actionItem(a) {
  return el('li', { 'data-testid': 'consolidation-action', 'data-action': a.action },
    el('span', { class: 'badge' }, ACTION_LABELS[a.action] || a.action), ' ',
    ...a.memories.slice(0, 8).flatMap((h) => [memoryLink(h), ' ']),
    a.memories.length > 8 ? el('span', { class: 'muted' }, `+${a.memories.length - 8} more `) : null,
    a.summary_hash ? el('span', {}, '→ ', memoryLink(a.summary_hash), ' ') : null,
    el('div', { class: 'muted', 'data-testid': 'consolidation-reason' }, a.reason));
}

function describeRun(r) {
  const would = r.dry_run ? 'would ' : '';
  const parts = [
    `${formatNumber(r.memories_processed)} memories looked at`,
    `${would}link ${formatNumber(r.associations_discovered)} pairs`,
    `${would}summarise ${formatNumber(r.clusters_created)} clusters`,
    `${would}archive ${formatNumber(r.memories_archived)}`,
  ];
  const head = r.dry_run ? `Preview of the ${r.time_horizon} run` : `Ran ${r.time_horizon}`;
  const tail = r.dry_run ? 'nothing was changed' : `${formatNumber(r.events_appended)} events, undo with unarchive or a restore`;
  return `${head}: ${parts.join(', ')} (${tail}).`;
}

async function consolidate(dryRun) {
  const horizon = $('consolidation-horizon').value;
  if (!dryRun && !(await confirmAction(`Run the ${horizon} consolidation now?`,
    'It links related memories, writes cluster summaries and archives what no longer matters, as the preview shows. '
    + 'Every change is an event: unarchive or a restore undoes it.', 'Run'))) return;
  const result = $('consolidation-result');
  result.textContent = dryRun ? 'Previewing…' : 'Running…';
  delete result.dataset.dryRun;
  const answer = await api('/api/consolidation/trigger', { method: 'POST', body: { time_horizon: horizon, dry_run: dryRun } });
  const report = answer.report;
  result.textContent = describeRun(report);
  result.dataset.dryRun = String(report.dry_run);
  const more = report.actions_total - report.actions.length;
  $('consolidation-actions').replaceChildren(...report.actions.map(actionItem),
    ...(more > 0 ? [el('li', { class: 'muted' }, `and ${formatNumber(more)} more actions`)] : []),
    ...(report.actions_total === 0 ? [el('li', { class: 'muted', 'data-testid': 'consolidation-nothing' }, 'Nothing to do.')] : []));
  if (!dryRun) {
    await Promise.all([guard(refreshView), guard(loadConsolidation)]);
  }
}

function renderArchived(page) {
  $('archived-count').textContent = `(${formatNumber(page.total)})`;
  $('archived-list').replaceChildren(...(page.memories.length ? page.memories.map(archivedItem)
    : [el('li', { class: 'muted', 'data-testid': 'archived-none' }, 'None: every memory is in searches and lists.')]));
}

function archivedItem(m) {
  const hash = m.content_hash;
  return el('li', { 'data-testid': 'archived-item', 'data-hash': hash },
    memoryLink(hash), ' ', el('span', {}, clip(m.content, 120)), ' ',
    button('Bring back', (e) => guard(() => unarchive(hash), e.currentTarget), { 'data-testid': 'archived-unarchive' }),
    el('div', { class: 'muted' },
      `archived ${formatTime(m.archived_at)} by ${m.archived_by}: `,
      el('span', { 'data-testid': 'archived-reason' }, m.archive_reason || 'no reason given')));
}

async function unarchive(hash) {
  await api(`/api/memories/${encodeURIComponent(hash)}/unarchive`, { method: 'POST' });
  notify(`Brought back ${shortHash(hash)}: it is in searches and lists again.`, 'success');
  await Promise.all([guard(refreshView), guard(loadConsolidation)]);
}

// Follows the panel's events on app.js's stream, whichever it is now (it is replaced on a reconnect).
function followConsolidationEvents() {
  if (!state.events || state.events === consolidation.source) return;
  consolidation.source = state.events;
  for (const kind of CONSOLIDATION_EVENTS) consolidation.source.addEventListener(kind, scheduleConsolidationLoad);
}

function scheduleConsolidationLoad() {
  clearTimeout(consolidation.timer);
  consolidation.timer = setTimeout(() => guard(loadConsolidation), 250);
}

document.addEventListener('DOMContentLoaded', () => {
  $('consolidation-form').addEventListener('submit', (event) => {
    event.preventDefault();
    guard(() => consolidate(true), $('consolidation-preview'));
  });
  $('consolidation-run').addEventListener('click', () => guard(() => consolidate(false), $('consolidation-run')));
  guard(loadConsolidation);
});
