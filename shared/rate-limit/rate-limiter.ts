import type { ProviderAnswer } from '../provider/rate-limit-headers.js';
import {
  factorAt,
  grant,
  initialState,
  learn,
  penalize,
  type BucketLimits,
  type BucketParams,
  type BucketState,
} from './bucket.js';
import type { RateBucketTable } from './bucket-table.js';

/**
 * Requests taken from the shared bucket at once, at most: one DynamoDB write per chunk. A
 * submit task reserves its whole batch in one chunk, so the batches' turns queue one after the
 * other instead of interleaving: each batch is sent in B/R seconds and starts polling while the
 * next is sent, rather than all of them finishing their sends together and polling with none
 * sending.
 */
export const DEFAULT_CHUNK_SIZE = 100;
/** Until the provider's headers have told the limit, and while the pace grows back after a 429, chunks stay this small. */
export const PROBE_CHUNK_SIZE = 10;
/** Conditional writes lost to other writers before a refill gives up for a moment. */
const MAX_CONFLICTS = 8;

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

/** The latest limits read from the provider's x-ratelimit-limit-* headers in this process. */
export interface ObservedLimits {
  requests?: number;
  tokens?: number;
}

/** Counters for tests and benchmarks. */
export interface RateLimiterStats {
  /** GetItem calls on the bucket. */
  reads: number;
  /** Conditional UpdateItem calls that went through. */
  writes: number;
  /** Conditional UpdateItem calls another writer won. */
  conflicts: number;
  /** Slots handed to callers. */
  turns: number;
  /** 429s reported. */
  penalties: number;
}

/** A caller's announcement of how many turns it will ask for, so chunks fit the demand. */
export interface Demand {
  /** One turn taken (take() calls it). */
  took(): void;
  /** Gives back the turns not taken. */
  done(): void;
  /** The latest turn handed to this demand so far (epoch ms), once one was. */
  readonly latestAt: number | undefined;
  /** Notes a turn handed out (take() calls it when it assigns a slot, before waiting for it). */
  assigned(at: number): void;
}

/** One chunk of slots taken from the shared bucket in one write. */
interface Chunk {
  /** The bucket's epoch when the chunk was granted. */
  epoch: number;
  /** When this process last saw that epoch still current (the grant, or a later read). */
  checkedAt: number;
  /** Set once a read showed the epoch moved on: the chunk's slots are void. */
  void: boolean;
  checking?: Promise<boolean>;
}

interface Slot {
  at: number;
  tokens: number;
  /** This process's epoch (bumped by a 429 it saw) when the slot was taken. */
  localEpoch: number;
  chunk: Chunk;
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
   * invocation, which adopts them. So a batch's closely spaced turns are all waited for.
   */
  maxWaitMs?: number;
}

/** take()'s answer when the caller's next turn is further off than its maxWaitMs. */
export const TURN_LATER = 'later';

/** Most turns one reservation carries (it travels in the Step Functions state). */
export const MAX_RESERVED_TURNS = 200;

/**
 * Turns booked in the shared bucket and not used yet, handed from one invocation to a later one
 * (through the Step Functions state) so a caller whose turns are far off waits for them in a
 * Wait state rather than in a Lambda. Valid while the bucket's epoch is the same (no 429 since).
 */
export interface Reservation {
  /** The provider key whose bucket the turns were booked in. */
  keyId: string;
  /** The bucket's epoch when they were booked. */
  epoch: number;
  /** When the epoch was last seen current (epoch ms). */
  checkedAt: number;
  /** Start of each turn (epoch ms), ascending. */
  at: number[];
  /** Tokens each turn was booked with. */
  tokens: number;
}

/**
 * The shared request budget of one provider key, seen from one process. The budget lives in one
 * DynamoDB item (bucket.ts, bucket-table.ts) shared by every process and job using the key; this
 * object reserves slots from it in chunks of up to `chunkSize` (one conditional write per chunk)
 * and hands them out locally, sleeping each caller until its slot, so requests are paced and
 * DynamoDB sees a fraction of the request count:
 *
 * - a chunk: one UpdateItem (conditional on the version; the first of a process also reads);
 * - a lost race: one GetItem and the UpdateItem again;
 * - a chunk reserved more than maxAhead ahead: one GetItem before its first slot (the epoch check);
 * - a 429: one UpdateItem (pause, cut, new epoch), shared by the 429s of one burst;
 * - a changed limit in the headers: one UpdateItem.
 */
export class RateLimiter {
  readonly stats: RateLimiterStats = { reads: 0, writes: 0, conflicts: 0, turns: 0, penalties: 0 };
  private readonly params: BucketParams;
  private readonly defaults: BucketLimits;
  private readonly chunkSize: number;
  private readonly clock: () => number;
  private readonly sleepFor: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly onError: (message: string, error: unknown) => void;

  private slots: Slot[] = [];
  /** Bumped by a 429 this process saw: every slot it held is dropped. */
  private localEpoch = 0;
  private cached: BucketState | undefined;
  /** The bucket's epoch as last read or written, and when: a check every chunk of that epoch may count. */
  private epochSeen = { epoch: -1, at: 0 };
  private refilling: Promise<void> | undefined;
  /** No refill before this: the pause of a 429 this process saw. */
  private notBefore = 0;
  /** The earliest a request could start, as a refused refill saw it, and when. */
  private nextAt = { at: 0, seenAt: 0 };
  /** Tokens of slots taken minus tokens of the requests sent in them; negative: owed to the bucket. */
  private tokenBalance = 0;
  private demanded = 0;
  /** Slots handed to callers still waiting for them (not yet counted off their demand). */
  private assigned = 0;
  /** Share of recent writes that lost a race (EWMA); above one half, reading first is cheaper. */
  private conflictRate = 0;
  private penalties: Promise<void> = Promise.resolve();
  private sharedPauseUntil = 0;
  private learning: string | undefined;
  private readonly observed: ObservedLimits;
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly table: RateBucketTable,
    options: RateLimiterOptions,
  ) {
    if (!(options.defaults.requests > 0)) throw new RangeError('the default requests limit must be positive');
    this.params = options.params;
    this.defaults = options.defaults;
    this.chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.clock = options.clock ?? Date.now;
    this.sleepFor = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.onError = options.onError ?? (() => undefined);
    this.observed = options.observed ?? {};
  }

  /** The id of the provider key whose budget this is. */
  get keyId(): string {
    return this.table.keyId;
  }

  /** The bucket as this process last saw it. */
  snapshot(): BucketState | undefined {
    return this.cached;
  }

  /** Announces `count` upcoming turns; each turn taken with this demand counts against it. */
  expect(count: number): Demand {
    let left = Math.max(0, count);
    this.demanded += left;
    let latestAt: number | undefined;
    return {
      get latestAt() {
        return latestAt;
      },
      assigned: (at) => {
        latestAt = Math.max(latestAt ?? at, at);
      },
      took: () => {
        if (left > 0) {
          left--;
          this.demanded--;
        }
      },
      done: () => {
        this.demanded -= left;
        left = 0;
      },
    };
  }

  /**
   * Waits for a turn to send one request and returns its start time, or undefined when no turn
   * starts before the deadline (the caller then gives its work back). The wait for a slot is
   * exact, which paces the requests; a slot reserved long before is checked against the bucket's
   * epoch first (one read), so a 429 elsewhere voids it.
   */
  async take(turn: TakeTurn & { maxWaitMs?: undefined }): Promise<number | undefined>;
  async take(turn: TakeTurn): Promise<number | typeof TURN_LATER | undefined>;
  async take({ tokens, deadline, demand, signal, maxWaitMs }: TakeTurn): Promise<number | typeof TURN_LATER | undefined> {
    const calledAt = this.clock();
    // The latest turn this caller waits for; it moves on with the turns handed to its demand.
    const horizon = () => (maxWaitMs === undefined ? Number.POSITIVE_INFINITY : Math.max(calledAt, demand?.latestAt ?? calledAt) + maxWaitMs);
    for (;;) {
      if (signal?.aborted) return undefined;
      const now = this.clock();
      this.dropStale(now);
      const slot = this.slots[0];
      if (slot !== undefined) {
        if (slot.at > deadline) return undefined;
        if (slot.at > horizon()) return TURN_LATER;
        this.slots.shift();
        this.assigned++;
        demand?.assigned(slot.at);
        try {
          if (!(await this.stillValid(slot, signal))) continue;
          const wait = slot.at - this.clock();
          if (wait > 0) await this.sleepUnless(wait, signal);
          if (signal?.aborted) {
            this.giveBack(slot);
            return undefined;
          }
          if (slot.localEpoch !== this.localEpoch || slot.chunk.void) continue; // a 429 meanwhile
        } finally {
          this.assigned--;
        }
        this.tokenBalance += slot.tokens - tokens;
        demand?.took();
        this.stats.turns++;
        return slot.at;
      }
      if (now >= deadline) return undefined;
      const seenLately = now - this.nextAt.seenAt < this.params.burstMs;
      if (this.nextAt.at > deadline && seenLately) return undefined;
      if ((this.nextAt.at > horizon() && seenLately) || this.notBefore > horizon()) {
        return this.notBefore >= deadline ? undefined : TURN_LATER;
      }
      if (this.notBefore > now) {
        const wait = this.jitter(this.notBefore - now);
        if (now + wait >= deadline) return undefined;
        await this.sleepUnless(wait, signal);
        continue;
      }
      this.refilling ??= this.refill(tokens, deadline).finally(() => {
        this.refilling = undefined;
      });
      await this.refilling;
    }
  }

  /**
   * A request got a 429: pauses the shared bucket until retry-after and voids every reservation
   * (every process backs off), cuts the pace (AIMD) and drops this process's slots. Concurrent
   * 429s of one burst share one write.
   */
  async penalize(retryAfterMs?: number): Promise<void> {
    const now = this.clock();
    const resumeAt = now + Math.max(0, retryAfterMs ?? this.params.burstMs);
    this.stats.penalties++;
    this.localEpoch++;
    this.slots = [];
    this.notBefore = Math.max(this.notBefore, resumeAt);
    const previous = this.penalties.catch(() => undefined);
    this.penalties = previous.then(async () => {
      // The write for an earlier 429 of the same burst covers this one (the restart margin absorbs it).
      if (resumeAt <= this.sharedPauseUntil + this.params.marginMs) return;
      try {
        await this.update((state) => {
          const at = this.clock();
          return penalize(state, at, resumeAt - at, this.params);
        });
        this.sharedPauseUntil = Math.max(this.sharedPauseUntil, resumeAt);
      } catch (error) {
        // Best effort: this process pauses anyway, and the next 429 elsewhere pauses the rest.
        this.onError('could not pause the shared rate limit after a 429', error);
      }
    });
    await this.penalties;
  }

  /**
   * Learns the limits from an answer's x-ratelimit-limit-* headers (the observer of every provider
   * answer). Writes only when they differ from what the bucket holds, in the background.
   */
  observe(answer: ProviderAnswer): void {
    const { limitRequests, limitTokens } = answer.rateLimit;
    if (limitRequests === undefined && limitTokens === undefined) return;
    if (limitRequests !== undefined) this.observed.requests = limitRequests;
    if (limitTokens !== undefined) this.observed.tokens = limitTokens;
    const known = this.cached;
    if (
      known?.learned &&
      (limitRequests ?? known.limitRequests) === known.limitRequests &&
      (limitTokens ?? known.limitTokens) === known.limitTokens
    ) {
      return;
    }
    const key = `${limitRequests}/${limitTokens}`;
    if (this.learning === key) return;
    this.learning = key;
    const limits = {
      ...(limitRequests !== undefined && { requests: limitRequests }),
      ...(limitTokens !== undefined && { tokens: limitTokens }),
    };
    const work = this.update((state) => learn(state, this.clock(), limits, this.params))
      .catch((error: unknown) => this.onError('could not record the provider rate limit', error))
      .finally(() => {
        if (this.learning === key) this.learning = undefined;
        this.background.delete(work);
      });
    this.background.add(work);
  }

  /** The earliest this process expects a new turn to start (epoch ms), as its last refused booking or a 429's pause said. */
  nextTurnAt(): number {
    return Math.max(this.notBefore, this.nextAt.at, this.clock());
  }

  /**
   * Gives up the turns this process holds and has not handed to a caller, for a later invocation
   * to adopt (at most MAX_RESERVED_TURNS, of the earliest chunk's epoch); undefined when none.
   */
  releaseBookedTurns(): Reservation | undefined {
    this.dropStale(this.clock());
    const first = this.slots[0];
    if (!first) return undefined;
    const kept = this.slots.filter((slot) => slot.chunk.epoch === first.chunk.epoch).slice(0, MAX_RESERVED_TURNS);
    this.slots = [];
    const checkedAt = Math.max(...kept.map((slot) => slot.chunk.checkedAt));
    // Whole milliseconds, rounded up (never earlier than booked): it travels in the state.
    return { keyId: this.keyId, epoch: first.chunk.epoch, checkedAt, at: kept.map((slot) => Math.ceil(slot.at)), tokens: first.tokens };
  }

  /**
   * Takes over turns an earlier invocation booked (releaseBookedTurns): they are handed out before any new
   * booking. A turn already past is dropped; one reserved long ago is checked against the bucket's
   * epoch before it is used (a 429 since voids it), as every slot is.
   */
  takeBookedTurns(reservation: Reservation | undefined): void {
    if (!reservation || reservation.keyId !== this.keyId || reservation.at.length === 0) return;
    const chunk: Chunk = { epoch: reservation.epoch, checkedAt: reservation.checkedAt, void: false };
    const localEpoch = this.localEpoch;
    this.slots.push(...reservation.at.map((at) => ({ at, tokens: reservation.tokens, localEpoch, chunk })));
    this.slots.sort((a, b) => a.at - b.at);
    this.dropStale(this.clock());
  }

  /** Resolves once the background writes started so far have ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.background, this.penalties.catch(() => undefined)]);
  }

  /** Reserves the next chunk of slots, as far ahead as the deadline allows: one conditional write. */
  private async refill(tokensEach: number, deadline: number): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      if (attempt > 0) await this.sleepFor(this.random() * Math.min(this.params.burstMs, 5 * 2 ** attempt));
      const stored = await this.current();
      const now = this.clock();
      // A limit seen in this process but not in the bucket yet goes in with this write: a
      // background learn write can lose every race to the refills of many submitters.
      const state = this.withObservedLimits(stored, now);
      // At the full pace a caller books as far ahead as its time budget, its whole demand at once
      // (up to a chunk) once the limit is known: the batches' turns then queue one after the
      // other. A pace cut by a 429 and growing back is booked at most maxAheadMs ahead, so the
      // growth reaches the next bookings instead of a deep queue booked at the cut pace. (A
      // guessed limit may be booked deep, in small chunks: learning the real one voids them.)
      const fullPace = factorAt(state, now, this.params) >= 1;
      const chunkSize = fullPace && state.learned ? this.chunkSize : Math.min(this.chunkSize, PROBE_CHUNK_SIZE);
      const horizon = fullPace ? deadline : Math.min(deadline, now + this.params.maxAheadMs);
      const want = Math.max(1, Math.min(chunkSize, this.demanded - this.slots.length - this.assigned));
      const owed = Math.max(0, -this.tokenBalance);
      const granted = grant(state, now, { count: want, tokensEach, extraTokens: owed, horizon }, this.params);
      if (granted.slots.length === 0) {
        this.nextAt = { at: granted.firstAt, seenAt: now };
        if (granted.firstAt <= deadline) {
          // Not within maxAheadMs yet: look again (a read: others book meanwhile) when it is.
          this.notBefore = Math.max(this.notBefore, granted.firstAt - this.params.maxAheadMs);
          this.cached = undefined;
        }
        return;
      }
      const written = await this.write(granted.state, stored.version);
      if (!written) continue;
      this.tokenBalance += owed;
      const chunk: Chunk = { epoch: written.epoch, checkedAt: now, void: false };
      const localEpoch = this.localEpoch;
      this.slots.push(...granted.slots.map((at) => ({ at, tokens: tokensEach, localEpoch, chunk })));
      this.slots.sort((a, b) => a.at - b.at);
      return;
    }
    this.notBefore = this.clock() + this.jitter(this.params.burstMs / 10);
  }

  private withObservedLimits(state: BucketState, now: number): BucketState {
    const { requests, tokens } = this.observed;
    if (requests === undefined && tokens === undefined) return state;
    const limits = { ...(requests !== undefined && { requests }), ...(tokens !== undefined && { tokens }) };
    return learn(state, now, limits, this.params) ?? state;
  }

  /**
   * Whether a slot may still be used: yes if it starts within maxAhead of the last time this
   * process saw its chunk's epoch current; else it waits until shortly before the slot and reads
   * the bucket (one read for the chunk), which voids the chunk if a 429 moved the epoch on.
   */
  private async stillValid(slot: Slot, signal: AbortSignal | undefined): Promise<boolean> {
    const { chunk } = slot;
    if (slot.localEpoch !== this.localEpoch || chunk.void) return false;
    if (this.epochSeen.epoch === chunk.epoch) chunk.checkedAt = Math.max(chunk.checkedAt, this.epochSeen.at);
    if (slot.at - chunk.checkedAt <= this.params.maxAheadMs) return true;
    const checkAt = slot.at - this.params.burstMs / 2;
    const now = this.clock();
    if (checkAt > now) await this.sleepUnless(checkAt - now, signal);
    if (signal?.aborted) return true; // the caller gives the slot back
    if (slot.localEpoch !== this.localEpoch || chunk.void) return false;
    if (this.epochSeen.epoch === chunk.epoch) chunk.checkedAt = Math.max(chunk.checkedAt, this.epochSeen.at);
    if (slot.at - chunk.checkedAt <= this.params.maxAheadMs) return true; // a later read or write covered it
    chunk.checking ??= this.check(chunk).finally(() => {
      chunk.checking = undefined;
    });
    return chunk.checking;
  }

  private async check(chunk: Chunk): Promise<boolean> {
    this.stats.reads++;
    const state = await this.table.read();
    if (state) this.saw(state);
    if (state && (!this.cached || state.version >= this.cached.version)) this.cached = state;
    if (!state || state.epoch !== chunk.epoch) {
      chunk.void = true;
      return false;
    }
    chunk.checkedAt = this.clock();
    return true;
  }

  /** Read-modify-write of the shared state, retried on conflicts; `change` returns undefined for no change. */
  private async update(change: (state: BucketState) => BucketState | undefined): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      if (attempt > 0) await this.sleepFor(this.random() * Math.min(this.params.burstMs, 5 * 2 ** attempt));
      const state = await this.current();
      const next = change(state);
      if (next === undefined) return;
      if (await this.write(next, state.version)) return;
    }
    throw new Error(`rate bucket ${this.keyId}: ${MAX_CONFLICTS} conflicting writes in a row`);
  }

  /** The state to compute from: the cached one, unless writes keep losing races (then read first). */
  private async current(): Promise<BucketState> {
    if (this.cached && this.conflictRate <= 0.5) return this.cached;
    this.stats.reads++;
    const state = await this.table.read();
    if (state) this.saw(state);
    this.cached = state ?? initialState(this.defaults, this.clock());
    return this.cached;
  }

  private async write(next: BucketState, expectedVersion: number): Promise<BucketState | undefined> {
    const written = await this.table.write(next, expectedVersion);
    this.conflictRate = this.conflictRate * 0.8 + (written ? 0 : 0.2);
    if (written) {
      this.stats.writes++;
      this.cached = written;
      this.saw(written);
    } else {
      this.stats.conflicts++;
      this.cached = undefined;
    }
    return written;
  }

  /** Notes the epoch a read or a write showed current, and when (reads and writes of the bucket are consistent). */
  private saw(state: BucketState): void {
    const at = this.clock();
    if (state.epoch > this.epochSeen.epoch || (state.epoch === this.epochSeen.epoch && at > this.epochSeen.at)) {
      this.epochSeen = { epoch: state.epoch, at };
    }
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

  /** A slot a stopping caller did not use: another caller of this process may. */
  private giveBack(slot: Slot): void {
    this.slots.push(slot);
    this.slots.sort((a, b) => a.at - b.at);
  }

  /** Void slots, and slots older than a burst (the provider's budget refilled anyway), go. */
  private dropStale(now: number): void {
    const oldest = now - this.params.burstMs;
    const stale = (slot: Slot) => slot.localEpoch !== this.localEpoch || slot.chunk.void || slot.at < oldest;
    if (this.slots.some(stale)) this.slots = this.slots.filter((slot) => !stale(slot));
  }

  /** A wait stretched by up to a quarter (at most a burst), so waiters do not come back together. */
  private jitter(ms: number): number {
    return ms + this.random() * Math.min(ms * 0.25, this.params.burstMs);
  }
}
