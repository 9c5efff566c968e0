import { LlmBatchClient } from '../../client/client.js';
import { defaultAuthKind, type AuthKind, type AuthOptions } from '../../client/auth.js';
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

/** How `--api` calls authenticate: `--auth iam|jwt|none`, `--token`, `--profile`, `--region`. */
export interface ApiAuthFlags {
  auth?: string;
  token?: string;
  profile?: string;
  region?: string;
}

const AUTH_KINDS: readonly AuthKind[] = ['iam', 'jwt', 'none'];

/**
 * The client for `--api` (a checked base URL), authenticated as the flags say; by default IAM for
 * https URLs and none for http (serve). Flags that do not fit the chosen auth are usage errors.
 */
export function apiClientFor(api: string, flags: ApiAuthFlags = {}): LlmBatchClient {
  const kind = (flags.auth ?? defaultAuthKind(new URL(api))) as AuthKind;
  if (!AUTH_KINDS.includes(kind)) throw new UsageError(`--auth must be iam, jwt or none, got "${flags.auth}"`);
  if (flags.token !== undefined && kind !== 'jwt')
    throw new UsageError(`--token goes with --auth jwt (auth is ${kind})`);
  if ((flags.profile !== undefined || flags.region !== undefined) && kind !== 'iam') {
    throw new UsageError(`--profile and --region go with --auth iam (auth is ${kind})`);
  }
  const auth: Record<AuthKind, () => AuthOptions> = {
    iam: () => ({
      kind: 'iam',
      ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      ...(flags.region !== undefined ? { region: flags.region } : {}),
    }),
    jwt: () => {
      if (!flags.token) throw new UsageError('--auth jwt needs --token <token> (or LLM_BATCH_TOKEN)');
      return { kind: 'jwt', token: flags.token };
    },
    none: () => ({ kind: 'none' }),
  };
  try {
    return new LlmBatchClient({ baseUrl: api, auth: auth[kind]() });
  } catch (error) {
    if (error instanceof Error && error.name === 'LlmBatchClientConfigError') throw new UsageError(error.message);
    throw error;
  }
}
