/**
 * Seeded decisions. Nothing here uses Math.random: every outcome is a function of the seed and
 * the request (its content, or a sequence number), so the same seed replays the same run.
 *
 * - Permanent errors are decided by seed + content: the same request fails on every retry.
 * - Transient errors are decided by seed + content + attempt number (counted here, per content),
 *   so a retry of a request that got a 500 (a create call, a batch line, a background response
 *   that ended failed) gets a fresh draw and can succeed.
 */

/** A 53-bit string hash (two 32-bit multiply-xorshift lanes). */
export function hash53(text: string, seed = 0): number {
  let a = 0x9e3779b1 ^ seed;
  let b = 0x85ebca77 ^ seed;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x85ebca6b);
    b = Math.imul(b ^ c, 0xc2b2ae35);
  }
  a = Math.imul(a ^ (a >>> 16), 0x7feb352d) ^ Math.imul(b ^ (b >>> 13), 0x846ca68b);
  b = Math.imul(b ^ (b >>> 16), 0x7feb352d) ^ Math.imul(a ^ (a >>> 13), 0x846ca68b);
  a ^= a >>> 15;
  b ^= b >>> 15;
  return 0x100000000 * ((b >>> 0) & 0x1fffff) + (a >>> 0);
}

/** A uniform number in [0, 1) from the seed and the parts. */
export function unit(seed: number, ...parts: Array<string | number>): number {
  return hash53(parts.join('\u001f'), seed) / 2 ** 53;
}

/** mulberry32: a small seeded PRNG for sequences (shuffles, latency samples). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle in place, driven by a seeded PRNG. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const item = items[i] as T;
    items[i] = items[j] as T;
    items[j] = item;
  }
  return items;
}

/** Transport fields that do not change what is asked: the same request sent either way is the same request. */
const TRANSPORT_FIELDS = new Set(['background', 'stream', 'store']);

/**
 * A short key for a request body: a hash of its JSON with sorted keys and without the transport
 * fields. The same body as a background response, a synchronous call or a batch line has the
 * same key, so it meets the same permanent fate in every mode.
 */
export function contentKey(body: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  for (const key of Object.keys(body)) {
    if (!TRANSPORT_FIELDS.has(key)) kept[key] = body[key];
  }
  return hash53(stableJson(kept)).toString(36);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const entries = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableJson(record[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export type TransientStatus = 500 | 503;

export class Outcomes {
  /** Attempts seen per content key (only counted when transient errors are on). */
  private readonly attempts = new Map<string, number>();
  /** Hears every attempt counted (the journal keeps them across processes). */
  onAttempt: (key: string, attempt: number) => void = () => undefined;

  constructor(
    private readonly seed: number,
    private readonly permanentErrorRate: number,
    private readonly transientErrorRate: number,
  ) {}

  /** True when this request fails with 400 on every attempt. */
  failsPermanently(key: string): boolean {
    return this.permanentErrorRate > 0 && unit(this.seed, 'permanent', key) < this.permanentErrorRate;
  }

  /** Counts one attempt of this request; the 5xx status it gets on this attempt, if any. */
  transientFailure(key: string): TransientStatus | undefined {
    if (this.transientErrorRate <= 0) return undefined;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    this.onAttempt(key, attempt);
    if (unit(this.seed, 'transient', key, attempt) >= this.transientErrorRate) return undefined;
    return unit(this.seed, 'transient-status', key, attempt) < 0.5 ? 500 : 503;
  }

  /** Takes up an attempt count kept by an earlier process. */
  restoreAttempt(key: string, attempt: number): void {
    if (attempt > (this.attempts.get(key) ?? 0)) this.attempts.set(key, attempt);
  }

  /**
   * Whether the background response created by this request's latest attempt ends `failed` with
   * server_error: a draw of its own per attempt (the attempt transientFailure just counted), so
   * the request sent again can complete.
   */
  failsInBackground(key: string): boolean {
    if (this.transientErrorRate <= 0) return false;
    const attempt = this.attempts.get(key) ?? 0;
    return unit(this.seed, 'background-failure', key, attempt) < this.transientErrorRate;
  }

  /** A deterministic index in [0, count) for this request (the classify label, for example). */
  pick(key: string, count: number): number {
    return Math.floor(unit(this.seed, 'pick', key) * count);
  }

  /** A uniform draw for a named purpose. */
  draw(...parts: Array<string | number>): number {
    return unit(this.seed, ...parts);
  }
}

/** Deterministic ids in OpenAI's style: prefix + hex, one counter per prefix. */
export class IdMaker {
  private readonly counters = new Map<string, number>();

  constructor(private readonly seed: number) {}

  next(prefix: string): string {
    const sequence = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, sequence);
    return idFor(this.seed, prefix, sequence);
  }

  /** Continues after an id made by an earlier process (idFor: prefix, 14 hex, 8-hex sequence). */
  restore(id: string): void {
    const prefix = id.slice(0, -ID_TAIL_LENGTH);
    const sequence = Number.parseInt(id.slice(-8), 16);
    if (Number.isInteger(sequence) && sequence > (this.counters.get(prefix) ?? 0)) this.counters.set(prefix, sequence);
  }
}

/** Characters after the prefix of an id from idFor with a numeric sequence. */
const ID_TAIL_LENGTH = 22;

/** The id of the n-th object of a kind (also used for per-line ids inside a batch). */
export function idFor(seed: number, prefix: string, sequence: number | string): string {
  const mix = hash53(`${prefix}:${sequence}`, seed).toString(16).padStart(14, '0');
  const tail = typeof sequence === 'number' ? sequence.toString(16).padStart(8, '0') : hash53(sequence).toString(16);
  return `${prefix}${mix}${tail}`;
}
