import type { TaskDeps } from '../deps.js';
import { ProviderUnavailableError, RateLimitedError } from '../errors.js';
import { TURN_LATER, type Demand, type RateLimiter, type Reservation } from '../rate-limit/rate-limiter.js';
import type { JobProgress } from '../store/job-progress.js';

/** 429s one request may meet within one invocation before the task gives up. */
export const MAX_RATE_LIMITED_ATTEMPTS = 10;
/** Outages (5xx, timeouts) retried per request within one invocation (the SDK does not retry creates). */
export const MAX_UNAVAILABLE_RETRIES = 5;

/** Items left for later turns: how many, the turns booked for them, and when a new turn is likely (when none are). */
export interface BookedTurnsLeft {
  unsent: number;
  reservation?: Reservation;
  nextTurnAt: number;
}

/** The time budget and the job progress of one submit invocation. */
export interface SubmitRun {
  /** Epoch ms after which no new request starts. */
  deadline: number;
  /** Items submitted and ended, and provider calls made: written to the job once, at the end. */
  progress: JobProgress;
  /**
   * The longest this invocation waits for its next turn (after now, or after the last turn it
   * was given); an item whose turn comes later is left for it. Unset: any turn before the deadline.
   */
  sendAheadMs?: number;
  /** Turns booked by an earlier invocation for this batch, used first. */
  reservation?: Reservation;
  /** Set when items were left for later turns. */
  later?: BookedTurnsLeft;
  /** Set when the provider's batch queue had no room for the batch: nothing was created. */
  queueFull?: QueueFull;
}

/** A batch left for room in the provider's batch queue: its tokens, those enqueued, the limit and the wait. */
export interface QueueFull {
  tokens: number;
  enqueued: number;
  limit: number;
  waitSeconds: number;
}

/** Another item's failure stopped the loop after this one got its turn: give the claim back. */
export class StoppedError extends Error {
  constructor() {
    super('the submit loop stopped');
    this.name = 'StoppedError';
  }
}

/** The item's turn is booked after the invocation's sendBy: it is sent by a later invocation. */
export class TurnLaterError extends Error {
  constructor() {
    super('the next rate-limit turn is booked for later');
    this.name = 'TurnLaterError';
  }
}

/**
 * Thrown for every item left for a later turn (most items of a batch queued behind others): one
 * instance, so no stack is captured per item. It is caught by the submit loop, never reported.
 */
const TURN_LATER_ERROR = new TurnLaterError();

interface SendContext {
  /** Estimated tokens of the call (0 for a batch creation: its tokens count against the batch queue). */
  tokens: number;
  limiter: RateLimiter;
  demand?: Demand;
  run: SubmitRun;
  deps: TaskDeps;
  /** Aborted when the loop is stopping: no new call starts, and waiting for a turn ends. */
  signal?: AbortSignal;
  /**
   * Run once, on the first turn, before the first call (the item's claim): false means the call
   * is not this task's to make, and sendWithinBudget returns undefined (the turn goes unused).
   */
  claim?: () => Promise<boolean>;
}

/**
 * One create call, sent on a turn of the shared rate limiter and resent after a 429 (once the
 * shared bucket's pause is over: the next turn waits for it) or an outage (with backoff), up to
 * a bound and within the time budget. Throws RateLimitedError when no turn comes in time, so
 * Step Functions retries the task later.
 */
export async function sendWithinBudget<T>(
  call: () => Promise<T>,
  context: SendContext & { claim?: undefined },
): Promise<T>;
export async function sendWithinBudget<T>(call: () => Promise<T>, context: SendContext): Promise<T | undefined>;
export async function sendWithinBudget<T>(call: () => Promise<T>, context: SendContext): Promise<T | undefined> {
  const { limiter, run, deps } = context;
  let rateLimited = 0;
  let unavailable = 0;
  let claimed = context.claim === undefined;
  for (;;) {
    const turn = await limiter.take({
      tokens: context.tokens,
      deadline: run.deadline,
      ...(context.demand && { demand: context.demand }),
      ...(context.signal && { signal: context.signal }),
      ...(run.sendAheadMs !== undefined && { maxWaitMs: run.sendAheadMs }),
    });
    if (context.signal?.aborted) throw new StoppedError();
    if (turn === TURN_LATER) throw TURN_LATER_ERROR;
    if (turn === undefined) {
      throw new RateLimitedError('no turn in the provider rate limit before the task ran out of time; retry later');
    }
    if (!claimed) {
      if (!(await context.claim?.())) return undefined;
      claimed = true;
    }
    run.progress.calls.submit++;
    try {
      return await call();
    } catch (error) {
      if (error instanceof RateLimitedError) {
        run.progress.calls.rateLimited++;
        await limiter.penalize(error.retryAfterMs);
        if (++rateLimited >= MAX_RATE_LIMITED_ATTEMPTS) throw error;
        continue;
      }
      if (error instanceof ProviderUnavailableError && ++unavailable <= MAX_UNAVAILABLE_RETRIES) {
        const wait = Math.min(8_000, 500 * 2 ** (unavailable - 1)) * (0.5 + Math.random() / 2);
        if (deps.clock.now().getTime() + wait >= run.deadline) throw error;
        await deps.clock.sleep(wait);
        continue;
      }
      throw error;
    }
  }
}
