// The job page's panels: items (filterable, paged), the execution's events, the job's log.
import { api, formatClock, formatTime, h, showError } from './api.js';

const PAGE = 20;

export function itemsPanel(jobPath) {
  const status = h(
    'select',
    { name: 'item-status' },
    ['FAILED', 'CANCELLED', 'SUCCEEDED', 'SUBMITTED', 'QUEUED', ''].map((s) =>
      h('option', { value: s }, s || 'any status'),
    ),
  );
  const search = h('input', { type: 'search', name: 'item-search', placeholder: 'filter this page by id or error' });
  const body = h('tbody');
  const position = h('span', { class: 'muted' });
  const cursors = [null];
  let page = 0;
  let rows = [];
  let nextCursor = null;
  const previous = h('button', { class: 'button small', onclick: () => go(page - 1) }, '← Previous');
  const next = h('button', { class: 'button small', onclick: () => go(page + 1) }, 'Next →');

  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = rows.filter(
      (item) =>
        !needle ||
        `${item.customId} ${item.error?.code ?? ''} ${item.error?.message ?? ''}`.toLowerCase().includes(needle),
    );
    body.replaceChildren(
      ...shown.map((item) =>
        h(
          'tr',
          { 'data-item': item.customId },
          h('td', { class: 'mono' }, item.customId),
          h('td', {}, item.status),
          h('td', { class: 'num' }, item.attempts),
          h('td', { class: 'mono' }, item.error?.code ?? ''),
          h('td', { class: 'error-message' }, item.error?.message ?? ''),
        ),
      ),
    );
    if (!shown.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No items.')));
    position.textContent = `page ${page + 1}`;
    previous.disabled = page === 0;
    next.disabled = !nextCursor;
  };
  // The API's limit counts the items read before the status filter, so a page can come back short
  // (even empty) with a cursor: keep reading until the page is full or the listing ends.
  const load = async () => {
    const found = [];
    let cursor = cursors[page];
    for (let requests = 0; requests < 200 && found.length < PAGE; requests++) {
      const query = new URLSearchParams({ limit: String(PAGE - found.length) });
      if (status.value) query.set('status', status.value);
      if (cursor) query.set('cursor', cursor);
      const answer = await api(`${jobPath}/items?${query}`);
      found.push(...answer.items);
      cursor = answer.nextCursor;
      if (!cursor) break;
    }
    rows = found;
    nextCursor = cursor;
    cursors[page + 1] = nextCursor;
    draw();
  };
  const go = (to) => {
    page = Math.max(0, to);
    load().catch((error) => showError(error, 'items'));
  };
  status.addEventListener('change', () => {
    cursors.length = 1;
    go(0);
  });
  search.addEventListener('input', draw);
  const element = h(
    'section',
    { class: 'card items' },
    h('h2', {}, 'Items'),
    h('div', { class: 'toolbar' }, status, search, previous, position, next),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Id', 'Status', 'Attempts', 'Error', 'Message'].map((t) => h('th', {}, t)),
        ),
      ),
      body,
    ),
  );
  // Later pages stay as they are; the first page follows the job.
  return { element, refresh: () => (page === 0 ? load() : Promise.resolve()) };
}

export function eventsPanel() {
  const body = h('tbody');
  const note = h('p', { class: 'muted' });
  const element = h(
    'div',
    { class: 'events' },
    note,
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['#', 'Time', 'Type', 'State', 'Details'].map((t) => h('th', {}, t)),
        ),
      ),
      body,
    ),
  );
  const update = (execution) => {
    if (!execution) return;
    note.textContent = `${execution.eventCount} events, newest first${execution.eventCount > execution.events.length ? ` (the newest ${execution.events.length} shown)` : ''}.`;
    body.replaceChildren(
      ...execution.events.map((event) =>
        h(
          'tr',
          { class: /Failed|Aborted|TimedOut/.test(event.type) ? 'bad' : '' },
          h('td', { class: 'num' }, event.id),
          h('td', { class: 'nowrap' }, formatClock(event.timestamp, true)),
          h('td', {}, event.type),
          h('td', {}, event.state ?? ''),
          h('td', { class: 'detail' }, event.detail ?? ''),
        ),
      ),
    );
  };
  return { element, update };
}

export function logPanel(jobPath) {
  const list = h('ol', { class: 'log' });
  const element = h('section', { class: 'card' }, h('h2', {}, 'Log'), list);
  const refresh = async () => {
    const lines = [];
    let cursor = null;
    do {
      const answer = await api(`${jobPath}/logs?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      lines.push(...answer.logs);
      cursor = answer.nextCursor;
    } while (cursor && lines.length < 2000);
    list.replaceChildren(
      ...lines.map((line) =>
        h(
          'li',
          { class: `level-${String(line.level).toLowerCase()}` },
          h('time', {}, formatTime(line.at)),
          h('b', {}, line.level),
          ` ${line.message}`,
        ),
      ),
    );
  };
  return { element, refresh };
}
