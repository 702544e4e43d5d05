// The dashboard's Documents panel: upload files (dropped or chosen), follow each upload to its end, and list
// what was ingested, with its chunks and its removal.
// Loaded after app.js, whose helpers it uses. File names, errors and chunk text come from users' files and
// the server: text nodes only, never innerHTML.
'use strict';

const DOC_POLL_MS = 500;
const DOC_RUNNING = ['queued', 'processing'];
const DOC_UPLOADS_SHOWN = 20; // rows of this page's uploads kept; the history lists them all
// Log events after which the history has changed, whoever made the change (this page, the CLI, MCP).
const DOC_HISTORY_EVENTS = ['document_ingested', 'document_removed'];

const docs = {
  uploads: new Map(), // upload_id -> the latest status of an upload made from this page
  timers: new Map(), // upload_id -> the timer of its next status poll
  historyTicket: 0, // the latest history request; older answers are dropped
  historyTimer: null,
  source: null, // the event stream whose document events are followed
};

// Changes are off while the page shows the past (app.js's time travel marks the body).
function docsInPast() {
  return document.body.classList.contains('past-view');
}

// ---------- upload ----------

// The form fields sent with every file, as the options stand when it is dropped or chosen.
function uploadFields() {
  const fields = [];
  const tags = splitTags($('doc-tags').value.replace(/\s+/g, ',')).join(',');
  if (tags) fields.push(['tags', tags]);
  for (const [id, name] of [['doc-type', 'memory_type'], ['doc-chunk-size', 'chunk_size'], ['doc-chunk-overlap', 'chunk_overlap']]) {
    const value = $(id).value.trim();
    if (value) fields.push([name, value]);
  }
  if ($('doc-force').checked) fields.push(['force', 'true']);
  return fields;
}

// One request per file, so that a refused file says why and does not stop the others.
async function uploadFiles(files) {
  if (!files.length || docsInPast()) return;
  clearDocErrors();
  const fields = uploadFields();
  let queued = 0;
  for (const file of files) {
    const form = new FormData();
    form.append('file', file, file.name);
    for (const [name, value] of fields) form.append(name, value);
    try {
      const res = await api('/api/documents/upload', { method: 'POST', body: form });
      queued += 1;
      trackUpload({ upload_id: res.upload_id, filename: file.name, file_size: file.size, status: 'queued', progress: 0 });
    } catch (err) {
      showDocError(file.name, err);
    }
  }
  if (queued) scheduleDocHistory();
}

function clearDocErrors() {
  $('doc-error').replaceChildren();
  $('doc-error').hidden = true;
}

// A refused file (400: unsupported or unreadable, 413: too large) is said next to the drop zone.
function showDocError(filename, err) {
  const box = $('doc-error');
  box.append(el('p', { 'data-testid': 'doc-error-item', 'data-filename': filename, 'data-status': err.status },
    el('strong', {}, `${filename} was not uploaded`), ': ',
    el('span', { 'data-testid': 'doc-error-detail' }, err.message || String(err))));
  box.hidden = false;
}

// ---------- this page's uploads ----------

function trackUpload(upload) {
  docs.uploads.set(upload.upload_id, upload);
  const list = $('doc-uploads');
  list.prepend(uploadRow(upload));
  while (list.children.length > DOC_UPLOADS_SHOWN) {
    const last = list.lastElementChild;
    docs.uploads.delete(last.dataset.uploadId);
    last.remove();
  }
  pollUpload(upload.upload_id);
}

// Polls an upload's status until it is no longer queued or processing.
async function pollUpload(id) {
  clearTimeout(docs.timers.get(id));
  docs.timers.delete(id);
  if (!docs.uploads.has(id)) return;
  followDocEvents();
  let status;
  try {
    status = await api(`/api/documents/status/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) {
      // An upload that did not finish (the server stopped meanwhile) is not recorded.
      showUpload({ ...docs.uploads.get(id), status: 'failed', errors: ['The server lost this upload before its end; upload it again.'] });
      return;
    }
    docs.timers.set(id, setTimeout(() => pollUpload(id), DOC_POLL_MS * 4));
    return;
  }
  showUpload(status);
  if (DOC_RUNNING.includes(status.status)) {
    docs.timers.set(id, setTimeout(() => pollUpload(id), DOC_POLL_MS));
  } else {
    scheduleDocHistory();
  }
}

function showUpload(upload) {
  if (!docs.uploads.has(upload.upload_id)) return;
  docs.uploads.set(upload.upload_id, upload);
  const row = document.querySelector(`#doc-uploads [data-upload-id="${CSS.escape(upload.upload_id)}"]`);
  if (row) row.replaceWith(uploadRow(upload));
}

// A progress notice of the stream moves the bar between two polls; the poll has the last word. A notice of
// an upload made elsewhere (another tab, the CLI, MCP) refreshes the history, which lists it.
function onDocProgress(event) {
  const notice = parseEvent(event);
  const known = docs.uploads.get(notice.upload_id);
  if (!known) {
    scheduleDocHistory();
    return;
  }
  if (!DOC_RUNNING.includes(known.status)) return;
  if (DOC_RUNNING.includes(notice.status)) {
    const { status, chunks_processed, total_chunks, progress } = notice;
    showUpload({ ...known, status, chunks_processed, total_chunks, progress });
  } else {
    pollUpload(notice.upload_id);
  }
}

function plural(count, word) {
  return `${formatNumber(count)} ${word}${count === 1 ? '' : 's'}`;
}

// What an upload came to, in words: progress while it runs, then what was stored, or why it failed.
function uploadOutcome(u) {
  if (u.status === 'queued') return ['waiting in the queue'];
  if (u.status === 'processing') {
    return [u.total_chunks ? `${formatNumber(u.chunks_processed || 0)} of ${plural(u.total_chunks, 'chunk')} embedded` : 'reading the file'];
  }
  if (u.status === 'failed') return [el('span', { class: 'error', 'data-testid': 'doc-upload-error' }, (u.errors || []).join('; ') || 'failed')];
  const parts = [el('span', { 'data-testid': 'doc-upload-chunks' }, `${plural(u.chunks_stored || 0, 'chunk')} stored`)];
  if (u.duplicates) parts.push(` · ${plural(u.duplicates, 'duplicate')} already stored`);
  if (u.pages) parts.push(` · ${plural(u.pages, 'page')}`);
  if (u.status === 'removed') parts.push(` · removed, ${plural(u.chunks_deleted || 0, 'chunk')} deleted`);
  return parts;
}

function uploadRow(u) {
  const running = DOC_RUNNING.includes(u.status);
  const progress = Math.round(u.status === 'completed' ? 100 : u.progress || 0);
  return el('li', {
    class: 'doc-upload', 'data-testid': 'doc-upload', 'data-upload-id': u.upload_id, 'data-filename': u.filename,
    'data-status': u.status, 'data-progress': progress, 'data-chunks-stored': u.chunks_stored, 'data-duplicates': u.duplicates,
    'data-pages': u.pages, 'aria-busy': running ? 'true' : null,
  },
  el('div', { class: 'doc-upload-head' },
    el('strong', { class: 'doc-name' }, u.filename),
    docStatus(u.status, 'doc-upload-status'),
    u.file_size != null ? el('span', { class: 'muted' }, formatBytes(u.file_size)) : null),
  el('progress', {
    class: 'doc-progress', 'data-testid': 'doc-progress', max: 100, value: u.status === 'queued' ? null : progress,
    'aria-label': `${u.filename}: ${u.status}${running ? `, ${progress}%` : ''}`,
  }),
  el('p', { class: 'doc-outcome', 'data-testid': 'doc-upload-result' }, uploadOutcome(u)));
}

function docStatus(status, testid) {
  return el('span', { class: 'doc-status', 'data-status': status, 'data-testid': testid }, status);
}

// ---------- history ----------

async function loadDocHistory() {
  const ticket = ++docs.historyTicket;
  const data = await api('/api/documents/history');
  if (ticket !== docs.historyTicket) return;
  followDocEvents();
  // Newest first, by when each was sent (an upload refused before it reached the log is listed apart by the server).
  const uploads = [...(data.uploads || [])].sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0));
  $('doc-history-rows').replaceChildren(...(uploads.length ? uploads.map(historyRow)
    : [el('tr', { 'data-testid': 'doc-history-empty' }, el('td', { colspan: 6, class: 'muted' }, 'No document uploaded yet.'))]));
  const counts = ['completed', 'processing', 'queued', 'failed', 'removed']
    .map((status) => [status, uploads.filter((u) => u.status === status).length]).filter(([, n]) => n > 0);
  $('doc-history-summary').textContent = `${plural(uploads.length, 'upload')}`
    + `${counts.length ? `: ${counts.map(([status, n]) => `${formatNumber(n)} ${status}`).join(', ')}` : ''}`;
  // A finished upload of this page that changed since (removed, here or elsewhere) says so in its row too.
  for (const u of uploads) {
    const known = docs.uploads.get(u.upload_id);
    if (known && !DOC_RUNNING.includes(known.status) && !DOC_RUNNING.includes(u.status) && known.status !== u.status) showUpload(u);
  }
}

function scheduleDocHistory() {
  clearTimeout(docs.historyTimer);
  docs.historyTimer = setTimeout(() => guard(loadDocHistory), 150);
}

function historyChunks(u) {
  if (u.status === 'removed') return `${formatNumber(u.chunks_deleted || 0)} deleted`;
  if (u.status === 'failed') return '–';
  if (DOC_RUNNING.includes(u.status)) return `${formatNumber(u.chunks_processed || 0)}/${formatNumber(u.total_chunks || 0)}`;
  const extra = [u.duplicates ? `${formatNumber(u.duplicates)} dup.` : '', u.pages ? plural(u.pages, 'page') : ''].filter(Boolean);
  return `${formatNumber(u.chunks_stored || 0)}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

function historyRow(u) {
  const created = u.created_at ? new Date(u.created_at) : null;
  const past = docsInPast();
  return el('tr', {
    'data-testid': 'doc-history-row', 'data-upload-id': u.upload_id, 'data-filename': u.filename, 'data-status': u.status,
    'data-chunks-stored': u.chunks_stored,
  },
  el('td', {},
    el('span', { class: 'doc-name', title: `upload ${u.upload_id}` }, u.filename),
    (u.tags || []).length ? el('span', { class: 'doc-meta muted' }, u.tags.join(', ')) : null),
  el('td', {},
    docStatus(u.status, 'doc-history-status'),
    u.status === 'failed' && (u.errors || []).length
      ? el('span', { class: 'doc-meta error', 'data-testid': 'doc-history-error' }, u.errors.join('; ')) : null),
  el('td', { class: 'num', 'data-testid': 'doc-history-chunks' }, historyChunks(u)),
  el('td', { class: 'num' }, created
    ? el('time', { datetime: u.created_at, title: created.toLocaleString() }, formatTime(u.created_at)) : '–'),
  el('td', {}, u.actor || '–'),
  el('td', {}, u.status === 'completed' ? el('div', { class: 'actions' },
    button('Chunks', (e) => guard(() => openChunks(u), e.currentTarget),
      { 'data-testid': 'doc-chunks-btn', 'aria-label': `Chunks of ${u.filename}` }),
    button('Remove', () => guard(() => removeDocument(u)), {
      'data-testid': 'doc-remove', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove ${u.filename}`, disabled: past,
    })) : null));
}

async function openChunks(u) {
  const data = await api(`/api/documents/search-content/${encodeURIComponent(u.upload_id)}`);
  const chunks = [...(data.memories || [])].sort((a, b) => (a.chunk_index ?? 0) - (b.chunk_index ?? 0));
  $('doc-chunks-file').textContent = data.filename || u.filename;
  const dialog = $('doc-chunks-dialog');
  dialog.dataset.uploadId = u.upload_id;
  $('doc-chunks-summary').textContent = chunks.length
    ? `${plural(data.total_found ?? chunks.length, 'chunk')} in memory, in the file's order.`
    : 'None of its chunks is in memory (they were stored already by an earlier upload, or deleted since).';
  $('doc-chunks').replaceChildren(...chunks.map(chunkItem));
  showModal('doc-chunks-dialog');
  $('doc-chunks-close').focus();
}

function chunkItem(m) {
  return el('li', {
    class: 'doc-chunk', 'data-testid': 'doc-chunk', 'data-hash': m.content_hash, 'data-index': m.chunk_index, 'data-page': m.page,
  },
  el('div', { class: 'doc-chunk-head muted' },
    el('span', {}, m.chunk_index != null ? `chunk ${m.chunk_index + 1}` : 'chunk'),
    m.page != null ? el('span', {}, `page ${m.page}`) : null,
    el('button', {
      type: 'button', class: 'link', title: `History of ${m.content_hash}`, 'aria-label': `History of chunk ${(m.chunk_index ?? 0) + 1}`,
      onclick: () => { closeModal('doc-chunks-dialog'); guard(() => openHistory(m.content_hash)); },
    }, shortHash(m.content_hash))),
  el('p', { class: 'doc-chunk-content', 'data-testid': 'doc-chunk-content' }, m.content));
}

async function removeDocument(u) {
  const chunks = u.chunks_stored || 0;
  const message = `${u.filename}: ${plural(chunks, 'chunk')} will be deleted from memory. `
    + 'The deletions are events of the log: each chunk keeps its history and can be restored from it.';
  if (!(await confirmAction(`Remove ${u.filename}?`, message, 'Remove'))) return;
  const res = await api(`/api/documents/remove/${encodeURIComponent(u.upload_id)}?remove_from_memory=true`, { method: 'DELETE' });
  notify(res.message || `Removed ${u.filename}.`, 'success');
  await loadDocHistory();
}

// ---------- live events and drops ----------

// Follows the document events on app.js's stream, whichever it is now (it is replaced on a reconnect).
function followDocEvents() {
  if (!state.events || state.events === docs.source) return;
  docs.source = state.events;
  docs.source.addEventListener('document_progress', onDocProgress);
  for (const kind of DOC_HISTORY_EVENTS) docs.source.addEventListener(kind, scheduleDocHistory);
}

function draggingFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes('Files');
}

function onDocDragOver(event) {
  if (!draggingFiles(event)) return;
  event.preventDefault();
  const refused = docsInPast();
  event.dataTransfer.dropEffect = refused ? 'none' : 'copy';
  $('doc-drop').classList.toggle('dragging', !refused);
}

function onDocDragLeave(event) {
  if (!$('doc-drop').contains(event.relatedTarget)) $('doc-drop').classList.remove('dragging');
}

function onDocDrop(event) {
  event.preventDefault();
  $('doc-drop').classList.remove('dragging');
  const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
  guard(() => uploadFiles(files));
}

// A past view disables the upload form and the Remove buttons.
function renderDocsPast() {
  const past = docsInPast();
  $('doc-fields').disabled = past;
  for (const remove of document.querySelectorAll('[data-testid="doc-remove"]')) remove.disabled = past;
}

document.addEventListener('DOMContentLoaded', () => {
  $('doc-form').addEventListener('submit', (e) => e.preventDefault());
  $('doc-file').addEventListener('change', () => {
    const files = [...$('doc-file').files];
    $('doc-file').value = ''; // so that choosing the same file again uploads it again
    guard(() => uploadFiles(files));
  });
  const zone = $('doc-drop');
  zone.addEventListener('dragenter', onDocDragOver);
  zone.addEventListener('dragover', onDocDragOver);
  zone.addEventListener('dragleave', onDocDragLeave);
  zone.addEventListener('drop', onDocDrop);
  // A file dropped beside the zone would make the browser open it and leave the dashboard.
  window.addEventListener('dragover', (e) => { if (draggingFiles(e)) e.preventDefault(); });
  window.addEventListener('drop', (e) => { if (draggingFiles(e)) e.preventDefault(); });
  $('doc-chunks-close').addEventListener('click', () => closeModal('doc-chunks-dialog'));
  new MutationObserver(renderDocsPast).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  // app.js opens the stream once the key is known, and again after a drop: pick it up when it changes.
  setInterval(followDocEvents, 2000);
  guard(loadDocHistory);
});
