/** How the client retries answers that may succeed later. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 5 */
  maxAttempts?: number;
  /** The backoff's first ceiling; it doubles per attempt. @default 250 */
  baseDelayMs?: number;
  /** The backoff's largest ceiling. @default 20000 */
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is thrown instead. @default 60000 */
  maxRetryAfterMs?: number;
}

export type ResolvedRetryOptions = Required<RetryOptions>;

export const DEFAULT_RETRY: ResolvedRetryOptions = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 60_000,
};

/** Throttled (429) or failed on the server's side (5xx): the same request may succeed later. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/**
 * The wait before retry number `retry` (1 for the first retry): the server's Retry-After when it
 * sent one, else exponential backoff with full jitter (a random wait from 0 to the ceiling, so
 * clients that failed together do not retry together). Undefined: do not retry.
 */
export function retryDelayMs(
  retry: number,
  retryAfter: number | undefined,
  options: ResolvedRetryOptions,
  random: () => number,
): number | undefined {
  if (retry >= options.maxAttempts) return undefined;
  if (retryAfter !== undefined) return retryAfter <= options.maxRetryAfterMs ? retryAfter : undefined;
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}
