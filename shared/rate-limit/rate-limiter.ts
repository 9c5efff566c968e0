import type { ProviderAnswer } from '../provider/rate-limit-headers.js';
import { factorAt, grant, type BucketLimits, type BucketParams, type BucketState } from './bucket.js';
import type { RateBucketTable } from './bucket-table.js';
import { BookedTurns, type Chunk, type Demand, type Reservation, type Slot } from './booked-turns.js';
import { bucketGateOf } from './bucket-gate.js';
import { LimitLearning, type ObservedLimits } from './limit-learning.js';
import { MAX_CONFLICTS, SharedBucket, type RateLimiterStats } from './shared-bucket.js';

// Kept importable from here, the limiter's public face.
export { MAX_RESERVED_TURNS, type Demand, type Reservation } from './booked-turns.js';
export type { ObservedLimits } from './limit-learning.js';
export type { RateLimiterStats } from './shared-bucket.js';

/**
 * Requests taken from the shared bucket at once, at most: one DynamoDB write per chunk. A
 * submit task reserves its whole batch in one chunk, so the batches' turns queue one after the
 * other instead of interleaving: each batch is sent in B/R seconds and starts polling while the
 * next is sent, rather than all of them finishing their sends together and polling with none
 * sending.
 */
export const DEFAULT_CHUNK_SIZE = 100;
/**
 * Until the provider's headers have told the limit, and while the pace grows back after a 429, chunks stay this small.
 */
export const PROBE_CHUNK_SIZE = 10;

export interface RateLimiterOptions {
  /** The limits used until the provider's first answer says otherwise. */
  defaults: BucketLimits;
  params: BucketParams;
  chunkSize?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * The limits this process has seen in the provider's headers, shared by every limiter of the
   * key in the process (the local runtime runs one per task invocation); a limiter of its own
   * when absent.
   */
  observed?: ObservedLimits;
  /** Told about a failed background write (learning a limit); the limiter carries on. */
  onError?: (message: string, error: unknown) => void;
}

export interface TakeTurn {
  /** Estimated tokens of the request (estimate.ts); 0 for a call that costs none (batch creation). */
  tokens: number;
  /** The caller's time budget: no turn that starts after it. */
  deadline: number;
  demand?: Demand;
  /** Ends the wait early (the caller is stopping): take() returns undefined, the slot goes back to the pool. */
  signal?: AbortSignal;
  /**
   * The longest the caller waits for its turn, counted from now or from the latest turn handed to
   * its demand, whichever is later: a turn booked further off (and before the deadline) stays
   * booked and take() returns TURN_LATER; releaseBookedTurns() then gives the booked turns to a later
   * invocation, which takes them over. So a batch's closely spaced turns are all waited for.
   */
  maxWaitMs?: number;
}

/** take()'s answer when the caller's next turn is further off than its maxWaitMs. */
export const TURN_LATER = 'later';

/**
 * The shared request budget of one provider key, seen from one process. The budget lives in one
 * DynamoDB item (bucket.ts, bucket-table.ts) shared by every process and job using the key; this
 * object books turns in it in chunks of up to `chunkSize` (one conditional write per chunk,
 * booked-turns.ts keeps them) and hands them out locally, sleeping each caller until its turn, so
 * requests are paced and DynamoDB sees a fraction of the request count:
 *
 * - a chunk: one UpdateItem (conditional on the version; the first of a process also reads);
 * - a lost race: one GetItem and the UpdateItem again;
 * - a chunk booked more than maxAhead ahead: one GetItem before its first turn (the epoch check);
 * - a 429: one UpdateItem (pause, cut, new epoch), shared by the 429s of one burst;
 * - a changed limit in the headers: one UpdateItem (limit-learning.ts).
 */
export class RateLimiter {
  readonly stats: RateLimiterStats = { reads: 0, writes: 0, conflicts: 0, turns: 0, penalties: 0 };
  private readonly params: BucketParams;
  private readonly chunkSize: number;
  private readonly clock: () => number;
  private readonly sleepFor: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly bucket: SharedBucket;
  private readonly turns: BookedTurns;
  private readonly learning: LimitLearning;

  private booking: Promise<void> | undefined;
  /** No booking before this: the pause of a 429 this process saw, or when a refused booking looks again. */
  private noBookingBefore = 0;
  /** The earliest a request could start, as the last refused booking saw it, and when it looked. */
  private refusedBooking = { firstAt: 0, seenAt: 0 };
  /** Tokens of slots taken minus tokens of the requests sent in them; negative: owed to the bucket. */
  private tokenBalance = 0;

  constructor(table: RateBucketTable, options: RateLimiterOptions) {
    if (!(options.defaults.requests > 0)) throw new RangeError('the default requests limit must be positive');
    this.params = options.params;
    this.chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.clock = options.clock ?? Date.now;
    this.sleepFor = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    const { params, clock, sleepFor: sleep, random, stats } = this;
    // The limiters sharing `observed` (one process's, of one key) share the bucket's state and take turns writing it.
    const gate = bucketGateOf(options.observed);
    this.bucket = new SharedBucket(table, { defaults: options.defaults, params, clock, sleep, random, stats, gate });
    this.turns = new BookedTurns(params.burstMs);
    this.learning = new LimitLearning(this.bucket, {
      params,
      clock,
      observed: options.observed ?? {},
      onError: options.onError ?? (() => undefined),
    });
  }

  /** The id of the provider key whose budget this is. */
  get keyId(): string {
    return this.bucket.keyId;
  }

  /** The bucket as this process last saw it. */
  snapshot(): BucketState | undefined {
    return this.bucket.snapshot();
  }

  /** Announces `count` upcoming turns; each turn taken with this demand counts against it. */
  expect(count: number): Demand {
    return this.turns.expect(count);
  }

  /**
   * Waits for a turn to send one request and returns its start time, or undefined when no turn
   * starts before the deadline (the caller then gives its work back). The wait for a turn is
   * exact, which paces the requests; a turn booked long before is checked against the bucket's
   * epoch first (one read), so a 429 elsewhere voids it.
   */
  async take(turn: TakeTurn & { maxWaitMs?: undefined }): Promise<number | undefined>;
  async take(turn: TakeTurn): Promise<number | typeof TURN_LATER | undefined>;
  async take({
    tokens,
    deadline,
    demand,
    signal,
    maxWaitMs,
  }: TakeTurn): Promise<number | typeof TURN_LATER | undefined> {
    // The latest turn this caller waits for, counted from now: the time spent booking (a round trip,
    // long on a busy local runtime) is no wait for a turn, and a turn that starts now is never for later.
    // It moves on with the turns handed to its demand.
    const waitsUntil = () => {
      if (maxWaitMs === undefined) return Number.POSITIVE_INFINITY;
      const now = this.clock();
      return Math.max(now, demand?.latestAt ?? now) + maxWaitMs;
    };
    for (;;) {
      if (signal?.aborted) return undefined;
      const now = this.clock();
      const slot = this.turns.first(now);
      if (slot !== undefined) {
        if (slot.at > deadline) return undefined;
        if (slot.at > waitsUntil()) return TURN_LATER;
        this.turns.handOut();
        demand?.assigned(slot.at);
        try {
          if (!(await this.stillValid(slot, signal))) continue;
          const wait = slot.at - this.clock();
          if (wait > 0) await this.sleepUnless(wait, signal);
          if (signal?.aborted) {
            this.turns.giveBack(slot);
            return undefined;
          }
          if (this.turns.isVoid(slot)) continue; // a 429 meanwhile
        } finally {
          this.turns.handedBack();
        }
        this.tokenBalance += slot.tokens - tokens;
        demand?.took();
        this.stats.turns++;
        return slot.at;
      }
      // No turn held: give up, answer TURN_LATER, sit out a pause, or book a chunk.
      if (now >= deadline) return undefined;
      const refusedLately = now - this.refusedBooking.seenAt < this.params.burstMs;
      if (this.refusedBooking.firstAt > deadline && refusedLately) return undefined;
      if ((this.refusedBooking.firstAt > waitsUntil() && refusedLately) || this.noBookingBefore > waitsUntil()) {
        return this.noBookingBefore >= deadline ? undefined : TURN_LATER;
      }
      if (this.noBookingBefore > now) {
        const wait = this.jitter(this.noBookingBefore - now);
        if (now + wait >= deadline) return undefined;
        await this.sleepUnless(wait, signal);
        continue;
      }
      this.booking ??= this.book(tokens, deadline).finally(() => {
        this.booking = undefined;
      });
      await this.booking;
    }
  }

  /**
   * A request got a 429: pauses the shared bucket until retry-after and voids every reservation
   * (every process backs off), cuts the pace (AIMD) and drops this process's slots. Concurrent
   * 429s of one burst share one write.
   */
  async penalize(retryAfterMs?: number): Promise<void> {
    const resumeAt = this.clock() + Math.max(0, retryAfterMs ?? this.params.burstMs);
    this.stats.penalties++;
    this.turns.dropAfterPenalty();
    this.noBookingBefore = Math.max(this.noBookingBefore, resumeAt);
    await this.learning.pauseSharedBucket(resumeAt);
  }

  /**
   * Learns the limits from an answer's x-ratelimit-limit-* headers (the observer of every provider
   * answer). Writes only when they differ from what the bucket holds, in the background.
   */
  observe(answer: ProviderAnswer): void {
    this.learning.observe(answer);
  }

  /**
   * The earliest this process expects a new turn to start (epoch ms), as its last refused booking or a 429's pause
   * said.
   */
  nextTurnAt(): number {
    return Math.max(this.noBookingBefore, this.refusedBooking.firstAt, this.clock());
  }

  /**
   * Gives up the turns this process holds and has not handed to a caller, for a later invocation
   * to take over (at most MAX_RESERVED_TURNS, of the earliest chunk's epoch); undefined when none.
   */
  releaseBookedTurns(): Reservation | undefined {
    return this.turns.release(this.keyId, this.clock());
  }

  /**
   * Takes over turns an earlier invocation booked (releaseBookedTurns): they are handed out before any new
   * booking. A turn already past is dropped; one booked long ago is checked against the bucket's
   * epoch before it is used (a 429 since voids it), as every slot is.
   */
  takeBookedTurns(reservation: Reservation | undefined): void {
    this.turns.takeOver(this.keyId, reservation, this.clock());
  }

  /** Resolves once the background writes started so far have ended. */
  async settled(): Promise<void> {
    await this.learning.settled();
  }

  /** Books the next chunk of turns, as far ahead as the deadline allows: one conditional write. */
  private book(tokensEach: number, deadline: number): Promise<void> {
    return this.bucket.exclusive(() => this.bookNow(tokensEach, deadline));
  }

  private async bookNow(tokensEach: number, deadline: number): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      if (attempt > 0) await this.bucket.pauseBeforeRetry(attempt);
      const stored = await this.bucket.current();
      const now = this.clock();
      const state = this.learning.withObservedLimits(stored, now);
      // At the full pace a caller books as far ahead as its time budget, its whole demand at once
      // (up to a chunk) once the limit is known: the batches' turns then queue one after the
      // other. A pace cut by a 429 and growing back is booked at most maxAheadMs ahead, so the
      // growth reaches the next bookings instead of a deep queue booked at the cut pace. (A
      // guessed limit may be booked deep, in small chunks: learning the real one voids them.)
      const fullPace = factorAt(state, now, this.params) >= 1;
      const chunkSize = fullPace && state.learned ? this.chunkSize : Math.min(this.chunkSize, PROBE_CHUNK_SIZE);
      const bookUntil = fullPace ? deadline : Math.min(deadline, now + this.params.maxAheadMs);
      const want = Math.max(1, Math.min(chunkSize, this.turns.wanted));
      const owed = Math.max(0, -this.tokenBalance);
      const granted = grant(
        state,
        now,
        { count: want, tokensEach, extraTokens: owed, horizon: bookUntil },
        this.params,
      );
      if (granted.slots.length === 0) {
        this.refusedBooking = { firstAt: granted.firstAt, seenAt: now };
        if (granted.firstAt <= deadline) {
          // Not within maxAheadMs yet: look again (a read: others book meanwhile) when it is.
          this.noBookingBefore = Math.max(this.noBookingBefore, granted.firstAt - this.params.maxAheadMs);
          this.bucket.forget();
        }
        return;
      }
      const written = await this.bucket.write(granted.state, stored.version);
      if (!written) continue;
      this.tokenBalance += owed;
      const chunk: Chunk = { epoch: written.epoch, checkedAt: now, void: false };
      this.turns.add(granted.slots, tokensEach, chunk);
      return;
    }
    this.noBookingBefore = this.clock() + this.jitter(this.params.burstMs / 10);
  }

  /**
   * Whether a slot may still be used: yes if it starts within maxAhead of the last time this
   * process saw its chunk's epoch current; else it waits until shortly before the slot and reads
   * the bucket (one read for the chunk), which voids the chunk if a 429 moved the epoch on.
   */
  private async stillValid(slot: Slot, signal: AbortSignal | undefined): Promise<boolean> {
    const { chunk } = slot;
    if (this.turns.isVoid(slot)) return false;
    this.bucket.refreshCheckedAt(chunk);
    if (slot.at - chunk.checkedAt <= this.params.maxAheadMs) return true;
    const checkAt = slot.at - this.params.burstMs / 2;
    const now = this.clock();
    if (checkAt > now) await this.sleepUnless(checkAt - now, signal);
    if (signal?.aborted) return true; // the caller gives the slot back
    if (this.turns.isVoid(slot)) return false;
    this.bucket.refreshCheckedAt(chunk);
    if (slot.at - chunk.checkedAt <= this.params.maxAheadMs) return true; // a later read or write covered it
    chunk.checking ??= this.bucket.confirmEpoch(chunk).finally(() => {
      chunk.checking = undefined;
    });
    return chunk.checking;
  }

  /** Sleeps, unless the signal ends the wait first. */
  private async sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (!signal) return this.sleepFor(ms);
    if (signal.aborted) return;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.sleepFor(ms), aborted]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** A wait stretched by up to a quarter (at most a burst), so waiters do not come back together. */
  private jitter(ms: number): number {
    return ms + this.random() * Math.min(ms * 0.25, this.params.burstMs);
  }
}
