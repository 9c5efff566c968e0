import { initialState, type BucketLimits, type BucketParams, type BucketState } from './bucket.js';
import type { RateBucketTable } from './bucket-table.js';
import type { Chunk } from './booked-turns.js';
import { BucketGate } from './bucket-gate.js';

/** Conditional writes lost to other writers before a read-modify-write gives up for a moment. */
export const MAX_CONFLICTS = 8;

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

export interface SharedBucketOptions {
  /** The limits used until the provider's first answer says otherwise. */
  defaults: BucketLimits;
  params: BucketParams;
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  stats: RateLimiterStats;
  /** Shared with the other limiters of the key in this process (bucket-gate.ts); one of its own when absent. */
  gate?: BucketGate;
}

/**
 * The shared bucket item of one provider key, as this process sees it: the state it last read or
 * wrote, kept to compute the next write from, and the bucket's epoch with when it was last seen
 * current. Every read and write of the item goes through here.
 */
export class SharedBucket {
  private readonly gate: BucketGate;
  /** The bucket's epoch as last read or written, and when: a check every chunk of that epoch may count. */
  private epochSeen = { epoch: -1, at: 0 };
  /** Share of recent writes that lost a race (a moving average); above one half, reading first is cheaper. */
  private conflictRate = 0;

  constructor(
    private readonly table: RateBucketTable,
    private readonly options: SharedBucketOptions,
  ) {
    this.gate = options.gate ?? new BucketGate();
  }

  /** The state kept to compute the next write from (shared by the process's limiters of the key). */
  private get cached(): BucketState | undefined {
    return this.gate.state;
  }

  private set cached(state: BucketState | undefined) {
    this.gate.state = state;
  }

  /** Runs a read-modify-write once the other limiters of the key in this process are done with theirs. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.gate.exclusive(work);
  }

  get keyId(): string {
    return this.table.keyId;
  }

  /** The bucket as this process last saw it. */
  snapshot(): BucketState | undefined {
    return this.cached;
  }

  /** Drops the kept state, so the next computation reads the item first (others booked meanwhile). */
  forget(): void {
    this.cached = undefined;
  }

  /** The state to compute from: the kept one, unless writes keep losing races (then read first). */
  async current(): Promise<BucketState> {
    if (this.cached && this.conflictRate <= 0.5) return this.cached;
    this.options.stats.reads++;
    const state = await this.table.read();
    if (state) this.noteEpoch(state);
    this.cached = state ?? initialState(this.options.defaults, this.options.clock());
    return this.cached;
  }

  /** Writes `next` if the item is still at `expectedVersion`; undefined when another writer won. */
  async write(next: BucketState, expectedVersion: number): Promise<BucketState | undefined> {
    const written = await this.table.write(next, expectedVersion);
    this.conflictRate = this.conflictRate * 0.8 + (written ? 0 : 0.2);
    if (written) {
      this.options.stats.writes++;
      this.cached = written;
      this.noteEpoch(written);
    } else {
      this.options.stats.conflicts++;
      this.cached = undefined;
    }
    return written;
  }

  /** Read-modify-write of the shared state, retried on conflicts; `change` returns undefined for no change. */
  async update(change: (state: BucketState) => BucketState | undefined): Promise<void> {
    return this.exclusive(async () => {
      for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
        if (attempt > 0) await this.pauseBeforeRetry(attempt);
        const state = await this.current();
        const next = change(state);
        if (next === undefined) return;
        if (await this.write(next, state.version)) return;
      }
      throw new Error(`rate bucket ${this.keyId}: ${MAX_CONFLICTS} conflicting writes in a row`);
    });
  }

  /** After a lost race, a short random wait whose bound doubles with each attempt. */
  pauseBeforeRetry(attempt: number): Promise<void> {
    return this.options.sleep(this.options.random() * Math.min(this.options.params.burstMs, 5 * 2 ** attempt));
  }

  /** Moves the chunk's check time on to the last time this process saw its epoch current. */
  refreshCheckedAt(chunk: Chunk): void {
    if (this.epochSeen.epoch === chunk.epoch) chunk.checkedAt = Math.max(chunk.checkedAt, this.epochSeen.at);
  }

  /** Reads the item to see whether the chunk's epoch is still current; voids the chunk if not. */
  async confirmEpoch(chunk: Chunk): Promise<boolean> {
    this.options.stats.reads++;
    const state = await this.table.read();
    if (state) this.noteEpoch(state);
    if (state && (!this.cached || state.version >= this.cached.version)) this.cached = state;
    if (!state || state.epoch !== chunk.epoch) {
      chunk.void = true;
      return false;
    }
    chunk.checkedAt = this.options.clock();
    return true;
  }

  /** Notes the epoch a read or a write showed current, and when (reads and writes of the bucket are consistent). */
  private noteEpoch(state: BucketState): void {
    const at = this.options.clock();
    if (state.epoch > this.epochSeen.epoch || (state.epoch === this.epochSeen.epoch && at > this.epochSeen.at)) {
      this.epochSeen = { epoch: state.epoch, at };
    }
  }
}
