import type { SimClock } from './clock.js';

/** One simulated minute. */
const WINDOW_MS = 60_000;

export type RateLimitKind = 'requests' | 'tokens';

/**
 * A token bucket that holds up to `limit` units and refills continuously at `limit` per
 * simulated minute, which is how OpenAI replenishes its RPM and TPM budgets.
 */
class Bucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly limit: number,
    now: number,
  ) {
    this.level = limit;
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.limit, this.level + (elapsed * this.limit) / WINDOW_MS);
    this.updatedAt = now;
  }

  /** Simulated ms until `amount` is available (0 when it is now). */
  waitFor(amount: number, now: number): number {
    this.refill(now);
    return this.level >= amount ? 0 : ((amount - this.level) * WINDOW_MS) / this.limit;
  }

  take(amount: number, now: number): void {
    this.refill(now);
    this.level -= amount;
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  /** Simulated ms until the bucket is full again. */
  untilFull(now: number): number {
    this.refill(now);
    return ((this.limit - this.level) * WINDOW_MS) / this.limit;
  }
}

export type RateLimitVerdict =
  | { ok: true; headers: Record<string, string> }
  | {
      ok: false;
      headers: Record<string, string>;
      kind: RateLimitKind;
      /** Wall-clock ms until the call would be admitted. */
      retryAfterMs: number;
      message: string;
    };

/**
 * Requests-per-minute and tokens-per-minute limits on the calls that create work. A call is
 * admitted only if both budgets hold it; a refused call consumes nothing.
 */
export class RateLimiter {
  private readonly requests?: Bucket;
  private readonly tokens?: Bucket;

  constructor(
    private readonly clock: SimClock,
    rpm: number,
    tpm: number,
  ) {
    const now = clock.now();
    if (rpm > 0 && Number.isFinite(rpm)) this.requests = new Bucket(rpm, now);
    if (tpm > 0 && Number.isFinite(tpm)) this.tokens = new Bucket(tpm, now);
  }

  /** Admits (and charges) one call estimated at `tokens` tokens, or says how long to wait. */
  admit(tokens: number): RateLimitVerdict {
    const now = this.clock.now();
    if (this.requests) {
      const wait = this.requests.waitFor(1, now);
      if (wait > 0) {
        return this.refuse('requests', wait, `Rate limit reached for requests: Limit ${this.requests.limit} / min.`);
      }
    }
    if (this.tokens && tokens > 0) {
      if (tokens > this.tokens.limit) {
        const waitFull = this.tokens.untilFull(now);
        return this.refuse(
          'tokens',
          waitFull,
          `Request too large: Limit ${this.tokens.limit} tokens / min, Requested ${tokens}. Send fewer tokens.`,
        );
      }
      const wait = this.tokens.waitFor(tokens, now);
      if (wait > 0) {
        return this.refuse(
          'tokens',
          wait,
          `Rate limit reached for tokens: Limit ${this.tokens.limit} / min, Used ${this.tokens.limit - this.tokens.remaining(now)}, Requested ${tokens}.`,
        );
      }
    }
    this.requests?.take(1, now);
    if (tokens > 0) this.tokens?.take(tokens, now);
    return { ok: true, headers: this.headers() };
  }

  /** x-ratelimit-* headers for the current budgets (none for a disabled limit). */
  headers(): Record<string, string> {
    const now = this.clock.now();
    const headers: Record<string, string> = {};
    for (const [kind, bucket] of [
      ['requests', this.requests],
      ['tokens', this.tokens],
    ] as const) {
      if (!bucket) continue;
      headers[`x-ratelimit-limit-${kind}`] = String(bucket.limit);
      headers[`x-ratelimit-remaining-${kind}`] = String(bucket.remaining(now));
      headers[`x-ratelimit-reset-${kind}`] = formatDuration(this.clock.toRealMs(bucket.untilFull(now)));
    }
    return headers;
  }

  private refuse(kind: RateLimitKind, waitSimMs: number, message: string): RateLimitVerdict {
    const retryAfterMs = Math.max(1, Math.ceil(this.clock.toRealMs(waitSimMs)));
    return {
      ok: false,
      kind,
      retryAfterMs,
      message: `${message} Please try again in ${formatDuration(retryAfterMs)}.`,
      headers: {
        ...this.headers(),
        'retry-after': String(Math.ceil(retryAfterMs / 1000)),
        'retry-after-ms': String(retryAfterMs),
      },
    };
  }
}

/** A duration the way OpenAI writes it in x-ratelimit-reset-*: "120ms", "1.2s", "6m0s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms - minutes * 60_000) / 1000);
  return `${minutes}m${seconds}s`;
}
