import { retryAfterMs } from './provider-errors.js';

/**
 * What one provider answer says about the key's rate limits: OpenAI's x-ratelimit-* headers
 * (limits per minute, what remains, how long until the budget is full again) and, on a 429,
 * retry-after. A field the answer did not carry is absent.
 */
export interface RateLimitHeaders {
  limitRequests?: number;
  remainingRequests?: number;
  /** Milliseconds until the request budget is full again. */
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  /** Milliseconds until the token budget is full again. */
  resetTokensMs?: number;
  /** From retry-after-ms, else retry-after (seconds or an HTTP date). */
  retryAfterMs?: number;
}

/** One HTTP answer of the provider, as the observing fetch sees it. */
export interface ProviderAnswer {
  status: number;
  method: string;
  /** The URL path, e.g. /v1/responses. */
  path: string;
  rateLimit: RateLimitHeaders;
}

/** Told about every HTTP answer of the provider, SDK retries included. Must not throw. */
export type ProviderAnswerObserver = (answer: ProviderAnswer) => void;

/** The fetch signature the OpenAI SDK accepts. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Reads the x-ratelimit-* and retry-after headers of an answer. */
export function readRateLimitHeaders(headers: Headers, now = Date.now()): RateLimitHeaders {
  const read: RateLimitHeaders = {
    limitRequests: count(headers.get('x-ratelimit-limit-requests')),
    remainingRequests: count(headers.get('x-ratelimit-remaining-requests')),
    resetRequestsMs: parseDurationMs(headers.get('x-ratelimit-reset-requests')),
    limitTokens: count(headers.get('x-ratelimit-limit-tokens')),
    remainingTokens: count(headers.get('x-ratelimit-remaining-tokens')),
    resetTokensMs: parseDurationMs(headers.get('x-ratelimit-reset-tokens')),
    retryAfterMs: retryAfterMs(headers, now),
  };
  return Object.fromEntries(Object.entries(read).filter(([, value]) => value !== undefined));
}

/**
 * A duration the way OpenAI writes x-ratelimit-reset-*: "120ms", "1s", "1.5s", "6m0s", "1h2m3s"
 * (a bare number counts as seconds). Undefined when absent or unreadable.
 */
export function parseDurationMs(value: string | null | undefined): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const part = /^(\d+(?:\.\d+)?)(ms|h|m|s)/.exec(rest);
    if (!part) return undefined;
    total += Number(part[1]) * (units[part[2] ?? ''] ?? Number.NaN);
    rest = rest.slice(part[0].length);
  }
  return Number.isFinite(total) ? total : undefined;
}

/**
 * Wraps a fetch so the observer sees the status and rate-limit headers of every answer. The
 * OpenAI client takes it as its `fetch`: every call it makes, retries included, passes here.
 */
export function observingFetch(observer: ProviderAnswerObserver, base: FetchLike = globalThis.fetch): FetchLike {
  return async (input, init) => {
    const response = await base(input, init);
    try {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
      observer({
        status: response.status,
        method: method.toUpperCase(),
        path: url.pathname,
        rateLimit: readRateLimitHeaders(response.headers),
      });
    } catch {
      // An observer's failure never fails the call.
    }
    return response;
  };
}

function count(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : undefined;
}
