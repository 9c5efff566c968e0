// Calls to the HTTP API (and the console's local routes), and small DOM and format helpers.

/** An answer that was not 2xx, as the API describes it: { error: { code, message, issues } }. */
export class ApiError extends Error {
  constructor(status, code, message, issues = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

export async function api(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'NoAnswer', `no answer from ${path} (${error.message}); is llm-batch serve running?`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    const message = error.message || (typeof body === 'string' && body) || response.statusText;
    throw new ApiError(response.status, error.code || `HTTP ${response.status}`, message, error.issues || []);
  }
  return body;
}

export const postJson = (path, body) =>
  api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** Shows an error in the banner until it is clicked or cleared by the next action. */
export function showError(error, context) {
  const banner = document.getElementById('error');
  const what = error instanceof ApiError ? `${error.status || ''} ${error.code}: ${error.message}` : String(error);
  banner.textContent = context ? `${context}: ${what}` : what;
  banner.hidden = false;
  banner.onclick = () => (banner.hidden = true);
}

export function clearError() {
  document.getElementById('error').hidden = true;
}

/** h('div', { class: 'x', onclick }, child, 'text') */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const formatInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');
export const formatCost = (usd) => (typeof usd === 'number' ? `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}` : '–');
const pad = (n, width = 2) => String(n).padStart(width, '0');
/** 2026-12-03 10:19:28, in local time. */
export function formatTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(iso)}`;
}
/** 10:19:28, or 10:19:28.042 with milliseconds. */
export function formatClock(iso, milliseconds = false) {
  const d = new Date(iso);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return milliseconds ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
}

/** From one of the job's times to another (both on the runtime's clock, which may run faster than this one). */
export function formatDuration(fromIso, toIso) {
  if (!fromIso || !toIso) return '–';
  const seconds = Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export const TERMINAL = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'];

export const statusBadge = (status) => h('span', { class: `status status-${String(status).toLowerCase()}` }, status);

export function progressBar(progress) {
  const percent = progress ? progress.percent : 0;
  return h(
    'div',
    { class: 'progress', role: 'progressbar', 'aria-valuenow': percent, 'aria-valuemin': 0, 'aria-valuemax': 100 },
    h('div', { class: 'progress-fill', style: `width: ${percent}%` }),
    h('span', { class: 'progress-text' }, `${percent} %`),
  );
}

/**
 * Runs `tick` now and every `ms` until the returned stop is called; a failing tick shows its error,
 * and the next tick that succeeds clears it (the server is back).
 */
export function every(ms, tick) {
  let timer;
  let stopped = false;
  let failing = false;
  const run = async () => {
    try {
      await tick();
      if (failing) clearError();
      failing = false;
    } catch (error) {
      failing = true;
      showError(error);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
