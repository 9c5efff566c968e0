// A job's page: progress and counts, the state graph with live batch counts, buttons, and the panels.
import {
  api,
  clearError,
  every,
  formatCost,
  formatDuration,
  formatInt,
  formatTime,
  h,
  postJson,
  progressBar,
  showError,
  statusBadge,
  TERMINAL,
} from './api.js';
import { badge, renderGraph } from './graph.js';
import { eventsPanel, itemsPanel, logPanel } from './panels.js';

let graphModel;
const loadGraph = async () => (graphModel ??= await api('/console/api/graph'));

const stat = (label, value, key) =>
  h('div', { class: 'stat', 'data-stat': key }, h('span', {}, label), h('b', {}, value));

function summary(job) {
  const c = job.counts;
  return [
    progressBar(job.progress),
    h(
      'div',
      { class: 'stats' },
      stat('Total', formatInt(c.total), 'total'),
      stat('Submitted', formatInt(c.submitted), 'submitted'),
      stat('Succeeded', formatInt(c.succeeded), 'succeeded'),
      stat('Failed', formatInt(c.failed), 'failed'),
      stat('Cancelled', formatInt(c.cancelled), 'cancelled'),
      stat('Tokens in / out', `${formatInt(job.usage.inputTokens)} / ${formatInt(job.usage.outputTokens)}`, 'tokens'),
      stat('Est. cost', formatCost(job.estimatedCostUsd), 'cost'),
      stat('Provider calls', formatInt((job.providerSubmitCalls ?? 0) + (job.providerPollCalls ?? 0)), 'calls'),
      stat('429s', formatInt(job.providerRateLimited ?? 0), 'rate-limited'),
      stat('Duration', formatDuration(job.startedAt ?? job.createdAt, job.completedAt ?? job.updatedAt), 'duration'),
    ),
    job.error ? h('p', { class: 'job-error' }, `${job.error.name}: ${job.error.message}`) : null,
  ];
}

/** Decorates the graph: top-level states by phase, the processor's states with their batch counts. */
function decorator(execution) {
  const mapRuns = new Map((execution?.mapRuns ?? []).map((run) => [run.stateName, run]));
  const latest = [...mapRuns.values()];
  return (state, group, box, nested) => {
    if (!nested) {
      const phase = execution?.states[state.name];
      if (phase) group.classList.add(`phase-${phase}`);
      return;
    }
    const counts = latest.reduce(
      (sum, run) => {
        const here = run.states[state.name];
        return here ? { running: sum.running + here.running, ended: sum.ended + here.ended } : sum;
      },
      { running: 0, ended: 0 },
    );
    const terminal = state.type === 'Succeed' || state.type === 'Fail';
    const count = terminal ? counts.ended : counts.running;
    const kind = terminal ? (state.type === 'Succeed' ? 'done' : 'failed') : 'running';
    if (counts.running) group.classList.add('phase-active');
    group.append(badge(box, count, kind, `${counts.running} batch(es) in this state now, ${counts.ended} ended here`));
  };
}

function mapRunLine(execution, job) {
  if (!execution) return h('p', { class: 'muted' }, 'The execution has not started yet.');
  const run = execution.mapRuns.at(-1);
  const status = h(
    'span',
    {},
    'Execution ',
    statusBadge(execution.status),
    execution.error ? ` ${execution.error}` : '',
  );
  if (!run) return h('p', { class: 'map-run' }, status);
  const e = run.executionCounts;
  const notStarted = Math.max(0, job.counts.total - run.itemCounts.total);
  return h(
    'p',
    { class: 'map-run', 'data-map-run': run.status },
    status,
    ` · map run ${run.status.toLowerCase()}: batches ${e.running} running, ${e.succeeded} succeeded, ${e.failed} failed` +
      `${e.aborted ? `, ${e.aborted} aborted` : ''} of ${e.total} started` +
      ` · items ${formatInt(run.itemCounts.total)} started, ${formatInt(notStarted)} not yet`,
  );
}

export function jobPage(view, jobId) {
  const path = `/jobs/${encodeURIComponent(jobId)}`;
  const title = h('h1', { class: 'mono' }, jobId);
  const status = h('span');
  const meta = h('p', { class: 'muted' });
  const summaryBox = h('section', { class: 'card summary' });
  const graphBox = h('div', { class: 'graph-box' });
  const mapRun = h('div');
  const download = h(
    'a',
    { class: 'button', href: `${path}/results`, download: `${jobId}.results.jsonl` },
    'Download results',
  );
  const action = (label, route, confirmText) =>
    h(
      'button',
      {
        class: 'button',
        'data-action': route,
        onclick: async () => {
          if (confirmText && !window.confirm(confirmText)) return;
          try {
            clearError();
            await postJson(`${path}/${route}`);
            await refresh();
          } catch (error) {
            showError(error, `POST ${path}/${route}`);
          }
        },
      },
      label,
    );
  const cancel = action('Cancel', 'cancel');
  const buttons = h(
    'div',
    { class: 'actions' },
    cancel,
    action('Retry', 'retry'),
    action('Redrive', 'redrive'),
    download,
  );
  const items = itemsPanel(path);
  const events = eventsPanel();
  const log = logPanel(path);
  view.append(
    h('p', {}, h('a', { href: '#/' }, '← Jobs')),
    h('div', { class: 'page-title' }, h('div', {}, title, status), buttons),
    meta,
    summaryBox,
    h('section', { class: 'card' }, h('h2', {}, 'Execution'), mapRun, graphBox),
    items.element,
    h('section', { class: 'card' }, h('h2', {}, 'Events'), events.element),
    log.element,
  );

  const refresh = async () => {
    const [job, run, graph] = await Promise.all([
      api(path),
      api(`/console/api/jobs/${encodeURIComponent(jobId)}/run`),
      loadGraph(),
    ]);
    status.replaceChildren(statusBadge(job.status));
    meta.textContent = `${job.jobType} · ${job.options.mode} · ${job.options.model ?? ''} · batches of ${job.options.batchSize}, ${job.options.maxConcurrency} at once · created ${formatTime(job.createdAt)}`;
    summaryBox.replaceChildren(...summary(job).filter(Boolean));
    cancel.disabled = TERMINAL.includes(job.status);
    download.classList.toggle('disabled', !job.results);
    mapRun.replaceChildren(run.note ? h('p', { class: 'muted' }, run.note) : mapRunLine(run.execution, job));
    graphBox.replaceChildren(renderGraph(graph, decorator(run.execution)));
    events.update(run.execution);
  };
  const stopMain = every(1000, refresh);
  const stopPanels = every(3000, () => Promise.all([items.refresh(), log.refresh()]));
  return () => {
    stopMain();
    stopPanels();
  };
}
