import pMap from 'p-map';
import type { TaskDeps } from '../shared/deps.js';
import {
  InvalidRequestError,
  JobNotFoundError,
  RateLimitedError,
  ProviderUnavailableError,
  SubmissionInProgressError,
  errorMessage,
} from '../shared/errors.js';
import { endItemsWithError, finishWithResult, STORE_CONCURRENCY } from '../shared/item-outcomes.js';
import { SUBMIT_LEASE_MS, TASK_TIMEOUT_SECONDS } from '../shared/limits.js';
import { batchDeadline, initialWaitSeconds, type BatchState } from '../shared/polling.js';
import { estimateRequestTokens } from '../shared/rate-limit/estimate.js';
import { TURN_LATER, type Demand, type RateLimiter, type Reservation } from '../shared/rate-limit/rate-limiter.js';
import type { ManifestLine } from '../shared/store/object-store.js';
import { JobProgress } from '../shared/store/job-progress.js';
import { STATUS_FIELDS } from '../shared/store/job-store.js';
import type { ItemRecord, ItemStatus, JobRecord } from '../shared/types.js';

/** Requests in flight at once from one submit task. */
export const SUBMIT_CONCURRENCY = 64;

/**
 * How long one submit invocation starts new requests: the Lambda timeout less room for the
 * requests still in flight (the client's 60 s timeout) and the bookkeeping after them. Past it
 * the task fails with RateLimitedError and Step Functions' Retry resumes it.
 */
export const SUBMIT_TIME_BUDGET_MS = (TASK_TIMEOUT_SECONDS - 90) * 1000;
/**
 * How long a submit task sits waiting for its next rate-limit turn, at most. Turns booked
 * further off stay booked and the child waits for them in a Step Functions Wait, then runs the
 * submit task again on them: a Wait and a second invocation (three transitions, $0.000075) cost
 * about what a 1 GB Lambda waiting 6 s does. A batch's own turns follow each other closely, so
 * one invocation sends them all.
 */
export const SEND_AHEAD_MS = 6_000;
/** The child comes back this long before its first booked turn (a Wait and an invocation take a moment). */
export const TURN_LEAD_MS = 2_000;

/** 429s one request may meet within one invocation before the task gives up. */
export const MAX_RATE_LIMITED_ATTEMPTS = 10;
/** Outages (5xx, timeouts) retried per request within one invocation (the SDK does not retry creates). */
export const MAX_UNAVAILABLE_RETRIES = 2;

/** A Distributed Map child's input: its batch of manifest lines and the job context. */
export interface SubmitBatchInput {
  Items: ManifestLine[];
  BatchInput: { jobId: string };
  /** Turns an earlier submit of this batch booked for its unsent items (see RateLimitWait). */
  reservation?: Reservation;
}

/**
 * A submit that left items for turns booked later: the batch state, plus the child's input again
 * (the next submit needs it) and the booked turns. The child waits `waitSeconds` for them in
 * Step Functions ("Wait for rate-limit turn"), then submits again.
 */
export interface RateLimitWait extends BatchState, SubmitBatchInput {
  /** Items not sent yet. The Choice goes back to the submit task while this is present. */
  unsent: number;
}

export function isRateLimitWait(state: BatchState | RateLimitWait): state is RateLimitWait {
  return 'unsent' in state;
}

export const CANCELLED_BY_USER = { code: 'job_cancelled', message: 'the job was cancelled before this item finished' };

export function batchIdOf(items: readonly ManifestLine[]): string {
  const first = items[0];
  if (!first) throw new Error('a batch needs at least one item');
  return `batch-${String(first.index).padStart(7, '0')}`;
}

export async function loadJob(deps: TaskDeps, jobId: string): Promise<JobRecord> {
  const job = await deps.store.getJob(jobId);
  if (!job) throw new JobNotFoundError(jobId);
  return job;
}

/** Options of one submit invocation. */
export interface SubmitOptions {
  /** How long this invocation may start requests for (default SUBMIT_TIME_BUDGET_MS). */
  timeBudgetMs?: number;
}

/**
 * Submits one child batch to the provider, idempotently: a retried task skips what is already
 * submitted. Responses mode claims each item before sending it; batch mode claims the batch
 * and sends one provider Batch. Every create call waits for a turn from the provider key's
 * shared rate limiter; the provider calls made are added to the job's counters once, at the end.
 */
export async function submitBatch(input: SubmitBatchInput, deps: TaskDeps, options: SubmitOptions = {}): Promise<BatchState | RateLimitWait> {
  const now = deps.clock.now().getTime();
  const deadline = now + (options.timeBudgetMs ?? SUBMIT_TIME_BUDGET_MS);
  const job = await loadJob(deps, input.BatchInput.jobId);
  const batchId = batchIdOf(input.Items);
  const mode = job.options.mode;
  const run: SubmitRun = {
    deadline,
    progress: new JobProgress(),
    // Responses mode sends one request per item, so its turns can be booked far ahead; a batch creation is one turn.
    ...(mode === 'responses' && { sendAheadMs: SEND_AHEAD_MS }),
    ...(input.reservation && { reservation: input.reservation }),
  };
  let pending: number;
  try {
    pending =
      mode === 'batch'
        ? await submitAsProviderBatch(job, batchId, input.Items, deps, run)
        : await submitAsResponses(job, batchId, input.Items, deps, run);
  } finally {
    await recordProgress(deps, job.jobId, run.progress);
  }
  const state: BatchState = {
    jobId: job.jobId,
    batchId,
    mode,
    pending,
    waitSeconds: initialWaitSeconds(mode, job),
    pollTurn: 0,
    deadline: batchDeadline(mode, deps.clock.now()),
    sentAt: deps.clock.now().toISOString(),
  };
  if (!run.later) return state;
  return { ...state, ...rateLimitWait(run.later, deps.clock.now().getTime()), Items: input.Items, BatchInput: input.BatchInput };
}

function rateLimitWait(later: BookedTurnsLeft, now: number): Pick<RateLimitWait, 'unsent' | 'waitSeconds' | 'reservation'> {
  const first = later.reservation?.at[0] ?? later.nextTurnAt;
  const waitSeconds = Math.max(0, Math.floor((first - TURN_LEAD_MS - now) / 1000));
  return { unsent: later.unsent, waitSeconds, ...(later.reservation && { reservation: later.reservation }) };
}

/** Items left for later turns: how many, the turns booked for them, and when a new turn is likely (when none are). */
interface BookedTurnsLeft {
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
}

/**
 * One ADD on the job for the whole invocation, even when it fails (what it did stays done). A
 * failure to count never fails the task: a retry would not count those items again, and the
 * reducer's final counts come from the items.
 */
export async function recordProgress(deps: TaskDeps, jobId: string, progress: JobProgress): Promise<void> {
  try {
    await deps.store.addProgress(jobId, progress);
  } catch (error) {
    deps.logger.warn('could not add the task\'s progress to the job counters', { jobId, error: errorMessage(error) });
  }
}

function isPending(status: ItemStatus | undefined): boolean {
  return status === 'QUEUED' || status === 'SUBMITTED';
}

function countPending(records: Map<string, Pick<ItemRecord, 'status'>>): number {
  let pending = 0;
  for (const record of records.values()) if (isPending(record.status)) pending++;
  return pending;
}

/** Items of the batch not ended: pending records, and items with no record yet (not sent). */
function countUnended(customIds: readonly string[], records: Map<string, Pick<ItemRecord, 'status'>>): number {
  return countPending(records) + customIds.filter((id) => !records.has(id)).length;
}

/** Items with no record yet or still QUEUED: what this invocation has to send. */
function notYetSubmitted(items: readonly ManifestLine[], records: Map<string, Pick<ItemRecord, 'status'>>): ManifestLine[] {
  return items.filter((item) => {
    const status = records.get(item.customId)?.status;
    return status === undefined || status === 'QUEUED';
  });
}

async function submitAsResponses(
  job: JobRecord,
  batchId: string,
  items: readonly ManifestLine[],
  deps: TaskDeps,
  run: SubmitRun,
): Promise<number> {
  const customIds = items.map((i) => i.customId);
  await deps.store.putBatch({ jobId: job.jobId, batchId, mode: 'responses', customIds });
  // A first run finds no records (each claim creates its item); a retry skips what went out.
  const toSend = notYetSubmitted(items, await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS));
  if (job.cancelRequested) {
    await endItemsWithError(deps, job.jobId, toSend.map((item) => ({ ...item, batchId })), 'CANCELLED', CANCELLED_BY_USER, run.progress);
  } else {
    await submitQueuedRequests(job, batchId, toSend, deps, run);
  }
  return countUnended(customIds, await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS));
}

/**
 * Sends QUEUED items one request each. An item is claimed before it is sent and recorded with
 * its provider id after, both conditionally, so no item is sent twice. Each send waits for a turn
 * from the shared rate limiter; a 429 pauses the shared bucket and the item is sent again on a
 * later turn (after retry-after). A provider refusal of one request fails that item. Items whose
 * turn is further off than `run.sendAheadMs` are left unclaimed, and `run.later` says how many
 * and hands over their turns. When the time budget runs out, or the provider keeps refusing or is down, the
 * loop stops and the task fails with a retryable error: claims not used are released, items sent
 * stay recorded, and the Step Functions retry submits only the rest.
 */
export async function submitQueuedRequests(
  job: JobRecord,
  batchId: string,
  items: readonly ManifestLine[],
  deps: TaskDeps,
  run: SubmitRun = { deadline: deps.clock.now().getTime() + SUBMIT_TIME_BUDGET_MS, progress: new JobProgress() },
): Promise<void> {
  if (items.length === 0) return;
  const provider = await deps.provider();
  const limiter = await deps.rateLimiter();
  const jobType = deps.jobTypes.get(job.jobType);
  limiter.takeBookedTurns(run.reservation);
  const demand = limiter.expect(items.length);
  let unsent = 0;
  // Set once: stops new claims and sends, and wakes the items waiting for a turn.
  let stop: Error | undefined;
  const stopping = new AbortController();
  const stopWith = (error: unknown) => {
    stop ??= error instanceof Error ? error : new Error(String(error));
    stopping.abort();
  };
  let busy = 0;
  try {
    await pMap(
      items,
      async (item) => {
        if (stop) return demand.took();
        let lease: number | undefined;
        try {
          const request = jobType.toRequest(item.line, job.options);
          const progress = await sendWithinBudget(() => provider.submitRequest(request, `${job.jobId}:${item.customId}`), {
            tokens: estimateRequestTokens(request),
            limiter,
            demand,
            run,
            deps,
            signal: stopping.signal,
            // Claimed on its turn, not before: the task holds claims only on what it is sending.
            claim: async () => {
              const claimed = await deps.store.claimItem(job.jobId, item.customId, SUBMIT_LEASE_MS, { index: item.index, batchId });
              if (claimed === 'busy') busy++; // another invocation holds it (or died holding it: its lease runs out)
              if (typeof claimed !== 'number') return false; // 'done': submitted already
              lease = claimed;
              return true;
            },
          });
          if (progress === undefined || lease === undefined) return;
          const ours = await deps.store.markItemSubmitted(job.jobId, item.customId, progress.providerId, { lease, progress: run.progress });
          if (!ours) {
            // Our lease expired and another invocation took the item over: withdraw our copy.
            deps.logger.warn('lost the submit claim; cancelling the duplicate request', { jobId: job.jobId, customId: item.customId });
            if (!progress.done) await provider.cancelRequest(progress.providerId);
            return;
          }
          if (progress.done) await finishWithResult(deps, job, item.customId, progress, run.progress);
        } catch (error) {
          if (error instanceof InvalidRequestError) {
            await endItemsWithError(deps, job.jobId, [{ ...item, batchId }], 'FAILED', { code: error.code, message: error.message }, run.progress);
            return;
          }
          if (error instanceof TurnLaterError) {
            unsent++;
            if (lease !== undefined) await deps.store.releaseItem(job.jobId, item.customId, lease);
            return;
          }
          // Stop the loop before the release's round trip, so no other item is sent meanwhile.
          if (!(error instanceof StoppedError)) stopWith(error);
          if (lease !== undefined) await deps.store.releaseItem(job.jobId, item.customId, lease);
        }
      },
      { concurrency: SUBMIT_CONCURRENCY },
    );
  } finally {
    demand.done();
  }
  if (unsent > 0 && !stop) {
    const reservation = limiter.releaseBookedTurns();
    run.later = { unsent, nextTurnAt: limiter.nextTurnAt(), ...(reservation && { reservation }) };
  }
  if (stop) {
    if (stop instanceof RateLimitedError || stop instanceof ProviderUnavailableError) {
      deps.logger.warn('submission paused by the provider; Step Functions will retry', { jobId: job.jobId, error: stop.message });
    }
    throw stop;
  }
  if (busy > 0) {
    throw new SubmissionInProgressError(`${busy} item(s) of job ${job.jobId} are claimed by another invocation; retry once its claim ends`);
  }
}

/** Another item's failure stopped the loop after this one got its turn: give the claim back. */
class StoppedError extends Error {
  constructor() {
    super('the submit loop stopped');
    this.name = 'StoppedError';
  }
}

/** The item's turn is booked after the invocation's sendBy: it is sent by a later invocation. */
class TurnLaterError extends Error {
  constructor() {
    super('the next rate-limit turn is booked for later');
    this.name = 'TurnLaterError';
  }
}

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
export async function sendWithinBudget<T>(call: () => Promise<T>, context: SendContext & { claim?: undefined }): Promise<T>;
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
    if (turn === TURN_LATER) throw new TurnLaterError();
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

async function submitAsProviderBatch(
  job: JobRecord,
  batchId: string,
  items: readonly ManifestLine[],
  deps: TaskDeps,
  run: SubmitRun,
): Promise<number> {
  const customIds = items.map((i) => i.customId);
  const claim = await deps.store.claimBatch({ jobId: job.jobId, batchId, mode: 'batch', customIds }, SUBMIT_LEASE_MS);
  if (!claim) {
    const batch = await deps.store.getBatch(job.jobId, batchId);
    if (!batch?.providerBatchId && batch?.leaseUntil !== undefined) {
      throw new SubmissionInProgressError(`batch ${batchId} of job ${job.jobId} is being submitted by another invocation`);
    }
    // Submitted already (this is a retry): record the items an earlier holder did not get to, then poll.
    const records = await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS);
    const unrecorded = items.filter((item) => !records.has(item.customId));
    if (batch?.providerBatchId) await markBatchItemsSubmitted(job, batchId, unrecorded, batch.providerBatchId, deps, run);
    return countPending(records) + (batch?.providerBatchId ? unrecorded.length : 0);
  }
  // Records exist only if an earlier holder got this far: a first run finds none.
  const queued = notYetSubmitted(items, await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS)).map((item) => ({ ...item, batchId }));
  if (job.cancelRequested || queued.length === 0) {
    await endItemsWithError(deps, job.jobId, queued, 'CANCELLED', CANCELLED_BY_USER, run.progress);
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    return 0;
  }

  const provider = await deps.provider();
  const limiter = await deps.rateLimiter();
  const jobType = deps.jobTypes.get(job.jobType);
  const metadata = { jobId: job.jobId, batchId };
  let providerBatchId: string | undefined;
  try {
    // A takeover means an earlier holder died mid-submission: its batch may exist already.
    if (claim.takeover) {
      run.progress.calls.submit++;
      providerBatchId = await provider.findBatch(metadata);
    }
    if (providerBatchId === undefined) {
      const requests = queued.map((item) => jobType.toRequest(item.line, job.options));
      // One request against the requests-per-minute limit; the batch's tokens count against the
      // provider's separate batch queue limit, not the tokens-per-minute one.
      const created = await sendWithinBudget(() => provider.submitBatch(requests, metadata), { tokens: 0, limiter, run, deps });
      providerBatchId = created.providerBatchId;
    }
  } catch (error) {
    if (error instanceof InvalidRequestError) {
      await endItemsWithError(deps, job.jobId, queued, 'FAILED', { code: error.code, message: error.message }, run.progress);
      await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
      return 0;
    }
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    throw error;
  }

  if (!(await deps.store.recordProviderBatch(job.jobId, batchId, providerBatchId, claim.lease))) {
    await provider.cancelBatch(providerBatchId);
    throw new SubmissionInProgressError(`lost the claim on batch ${batchId} of job ${job.jobId}; its duplicate was cancelled`);
  }
  await markBatchItemsSubmitted(job, batchId, queued, providerBatchId, deps, run);
  return queued.length;
}

/**
 * Records the items of a provider batch SUBMITTED with the batch's id, creating the records in
 * the same write (a batch-mode item gets its record only once its batch exists: two writes an
 * item, with its end).
 */
async function markBatchItemsSubmitted(
  job: JobRecord,
  batchId: string,
  items: readonly ManifestLine[],
  providerBatchId: string,
  deps: TaskDeps,
  run: SubmitRun,
): Promise<void> {
  await pMap(
    items,
    (item) => deps.store.markItemSubmitted(job.jobId, item.customId, providerBatchId, { create: { index: item.index, batchId }, progress: run.progress }),
    { concurrency: STORE_CONCURRENCY },
  );
}
