import { UsageError } from './exit-codes.js';

/** The API answered with an error status: the request, the status and the API's own code and message. */
export class ApiRequestError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${url} answered ${status}: ${describeAnswer(body)}`);
    this.name = 'ApiRequestError';
  }
}

/** Nothing answered at the API's address (refused, unknown host, reset...). */
export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`no answer from ${url} (${reasonOf(cause)}); is the API running there?`, { cause });
    this.name = 'ApiUnreachableError';
  }
}

/** The API's `{ error: { code, message } }` as one line, or the raw answer's first line. */
function describeAnswer(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.message === 'string') {
      return `${typeof parsed.error.code === 'string' ? `${parsed.error.code}: ` : ''}${parsed.error.message}`;
    }
  } catch {
    // not JSON: shown as it is
  }
  return body.split('\n')[0]?.slice(0, 200) ?? '';
}

/** fetch fails with "fetch failed" and the socket error as its cause: the cause says why. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'unknown host';
  if (typeof code === 'string') return code;
  return cause instanceof Error ? cause.message : String(cause);
}

/** `--api` as a base URL without a trailing slash; anything but an http(s) URL is a usage error. */
export function parseApiUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--api must be an http(s) URL such as http://127.0.0.1:3000, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--api must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

/** One JSON request to the API: an error answer is an ApiRequestError, no answer an ApiUnreachableError. */
export async function apiCall<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await apiFetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new ApiRequestError(init?.method ?? 'GET', url, response.status, text);
  return JSON.parse(text) as T;
}

/** fetch, with "no answer" as an ApiUnreachableError naming the URL. */
export async function apiFetch(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new ApiUnreachableError(url, error);
  }
}
