// The console's pages, chosen by the URL's hash: #/ (jobs), #/new (start a job), #/jobs/<id>.
import { api, clearError, every, formatCost, formatInt, formatTime, h, progressBar, statusBadge } from './api.js';
import { jobPage } from './job.js';
import { newJobPage } from './new-job.js';

let stopPage = () => undefined;

function jobsPage(view) {
  const body = h('tbody');
  const empty = h('p', { class: 'muted', hidden: true }, 'No jobs yet. ', h('a', { href: '#/new' }, 'Start one.'));
  view.append(
    h(
      'div',
      { class: 'page-title' },
      h('h1', {}, 'Jobs'),
      h('a', { class: 'button primary', href: '#/new' }, 'Start a job'),
    ),
    h(
      'table',
      { class: 'jobs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          [
            'Job',
            'Type',
            'Status',
            'Progress',
            'Succeeded',
            'Failed',
            'Cancelled',
            'Total',
            'Tokens in / out',
            'Est. cost',
            'Created',
          ].map((title) => h('th', {}, title)),
        ),
      ),
      body,
    ),
    empty,
  );
  return every(1500, async () => {
    const { jobs } = await api('/jobs?limit=50');
    jobs.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    empty.hidden = jobs.length > 0;
    body.replaceChildren(
      ...jobs.map((job) =>
        h(
          'tr',
          { 'data-job-id': job.jobId },
          h(
            'td',
            { class: 'nowrap' },
            h('a', { href: `#/jobs/${encodeURIComponent(job.jobId)}`, class: 'mono' }, job.jobId),
          ),
          h('td', { class: 'nowrap' }, job.jobType, h('span', { class: 'muted' }, ` · ${job.options.mode}`)),
          h('td', { class: 'nowrap' }, statusBadge(job.status)),
          h('td', { class: 'progress-cell' }, progressBar(job.progress)),
          h('td', { class: 'num' }, formatInt(job.counts.succeeded)),
          h('td', { class: 'num' }, formatInt(job.counts.failed)),
          h('td', { class: 'num' }, formatInt(job.counts.cancelled)),
          h('td', { class: 'num' }, formatInt(job.counts.total)),
          h(
            'td',
            { class: 'num nowrap' },
            `${formatInt(job.usage.inputTokens)} / ${formatInt(job.usage.outputTokens)}`,
          ),
          h('td', { class: 'num' }, formatCost(job.estimatedCostUsd)),
          h('td', { class: 'nowrap' }, formatTime(job.createdAt)),
        ),
      ),
    );
  });
}

function route() {
  stopPage();
  clearError();
  const view = document.getElementById('view');
  view.replaceChildren();
  const hash = location.hash || '#/';
  const job = /^#\/jobs\/(.+)$/.exec(hash);
  if (job) stopPage = jobPage(view, decodeURIComponent(job[1]));
  else if (hash === '#/new') stopPage = newJobPage(view);
  else stopPage = jobsPage(view);
  for (const link of document.querySelectorAll('header nav a'))
    link.classList.toggle('active', link.getAttribute('href') === (job ? '#/' : hash));
}

window.addEventListener('hashchange', route);
route();
