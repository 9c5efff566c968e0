import pMap from 'p-map';
import {
  InvalidRequestError,
  ProviderUnavailableError,
  RateLimitedError,
  SubmissionInProgressError,
} from '../errors.js';
import { endItemsWithError, settleResult } from '../item-outcomes.js';
import { maxAttemptsOf } from '../job-options.js';
import { CANCELLED_BY_USER, isUnfinished, notYetSubmitted } from '../job-lifecycle.js';
import { SUBMIT_LEASE_MS } from '../limits.js';
import { median, observedLatencySeconds } from '../polling.js';
import type { ResponsesProvider } from '../provider/provider.js';
import { estimateRequestTokens } from '../rate-limit/estimate.js';
import { STATUS_FIELDS } from '../store/job-store.js';
import {
  optional,
  type PolledItem,
  type PollOutcome,
  type PollTurn,
  submittedWorkIds,
  type ProviderModeStrategy,
  type SubmitBatch,
  type Withdrawal,
} from './provider-mode.js';
import { sendWithinBudget, StoppedError, TurnLaterError } from './send-on-turn.js';

/** Requests in flight at once from one submit task. */
export const SUBMIT_CONCURRENCY = 64;
/** Background responses polled (or cancelled) at once by one task. */
export const POLL_CONCURRENCY = 8;

/**
 * How long a submit task sits waiting for its next rate-limit turn, at most. Turns booked
 * further off stay booked and the child waits for them in a Step Functions Wait, then runs the
 * submit task again on them: a Wait and a second invocation (three transitions, $0.000075) cost
 * about what a 1 GB Lambda waiting 6 s does. A batch's own turns follow each other closely, so
 * one invocation sends them all.
 */
export const SEND_AHEAD_MS = 6_000;

/** Responses mode: one background request per item, polled one by one. */
export const responsesMode: ProviderModeStrategy = {
  name: 'responses',
  // One request per item, so its turns can be booked far ahead.
  sendAheadMs: SEND_AHEAD_MS,
  priceFactor: 1,
  submit,
  poll,
  withdraw,
};

async function submit({ job, batchId, items, deps, run }: SubmitBatch): Promise<number> {
  // No batch record: the poll state carries the batch's ids (see BatchState.customIds).
  const customIds = items.map((i) => i.customId);
  // A first run finds no records (each claim creates its item); a retry skips what went out.
  const toSend = notYetSubmitted(items, await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS));
  if (job.cancelRequested) {
    await endItemsWithError(
      deps,
      job.jobId,
      toSend.map((item) => ({ ...item, batchId })),
      'CANCELLED',
      CANCELLED_BY_USER,
      run.progress,
    );
  } else {
    await submitQueuedRequests({ job, batchId, items: toSend, deps, run });
  }
  // Unended: pending records, and items with no record yet (not sent).
  const records = await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS);
  return customIds.filter((id) => isUnfinished(records.get(id)?.status)).length;
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
async function submitQueuedRequests({ job, batchId, items, deps, run }: SubmitBatch): Promise<void> {
  if (items.length === 0) return;
  const provider: ResponsesProvider = await deps.provider();
  const limiter = await deps.rateLimiter();
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
          const request = job.compiled.toRequest(item.line);
          const progress = await sendWithinBudget(
            () => provider.submitRequest(request, `${job.jobId}:${item.customId}`),
            {
              tokens: estimateRequestTokens(request),
              limiter,
              demand,
              run,
              deps,
              signal: stopping.signal,
              // Claimed on its turn, not before: the task holds claims only on what it is sending.
              claim: async () => {
                const claimed = await deps.store.claimItem(job.jobId, item.customId, SUBMIT_LEASE_MS, {
                  index: item.index,
                  batchId,
                });
                if (claimed === 'busy') busy++; // another invocation holds it (or died holding it: its lease runs out)
                if (typeof claimed !== 'number') return false; // 'done': submitted already
                lease = claimed;
                return true;
              },
            },
          );
          if (progress === undefined || lease === undefined) return;
          const ours = await deps.store.markItemSubmitted(job.jobId, item.customId, progress.providerId, {
            lease,
            progress: run.progress,
          });
          if (!ours) {
            // Our lease expired and another invocation took the item over: withdraw our copy.
            deps.logger.warn('lost the submit claim; cancelling the duplicate request', {
              jobId: job.jobId,
              customId: item.customId,
            });
            if (!progress.done) await provider.cancelRequest(progress.providerId);
            return;
          }
          // Answered at once (chat completions, or a response that failed on arrival).
          if (progress.done)
            await settleResult(deps, job, { customId: item.customId, providerId: progress.providerId }, progress, {
              progress: run.progress,
              priceFactor: responsesMode.priceFactor,
              resend: { maxAttempts: maxAttemptsOf(job.options), canResend: true },
            });
        } catch (error) {
          if (error instanceof InvalidRequestError) {
            await endItemsWithError(
              deps,
              job.jobId,
              [{ ...item, batchId }],
              'FAILED',
              { code: error.code, message: error.message },
              run.progress,
            );
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
      deps.logger.warn('submission paused by the provider; Step Functions will retry', {
        jobId: job.jobId,
        error: stop.message,
      });
    }
    throw stop;
  }
  if (busy > 0) {
    throw new SubmissionInProgressError(
      `${busy} item(s) of job ${job.jobId} are claimed by another invocation; retry once its claim ends`,
    );
  }
}

async function poll({ job, unfinished, deps, progress, resend }: PollTurn): Promise<PollOutcome> {
  const provider: ResponsesProvider = await deps.provider();
  // An item still QUEUED was put back by an earlier turn (a transient failure) and waits to be
  // sent again; one with no attempts left (or no time) ends now rather than wait for the bound.
  const queued = unfinished.filter((r) => r.status === 'QUEUED');
  const resendable = (r: PolledItem) => resend.canResend && (r.attempts ?? 0) < resend.maxAttempts;
  let finished = await endItemsWithError(
    deps,
    job.jobId,
    queued.filter((r) => !resendable(r)),
    'FAILED',
    { code: 'not_submitted', message: 'the item was not sent again before its attempts or its time ran out' },
    progress,
  );
  let requeued = queued.filter(resendable).length;
  const latencies: number[] = [];
  await pMap(
    unfinished.filter((r) => r.status === 'SUBMITTED' && r.providerId),
    async (record) => {
      const result = await provider.pollRequest(record.providerId as string, record.customId);
      if (!result.done) return;
      const latency = observedLatencySeconds(result.output);
      if (latency !== undefined) latencies.push(latency);
      const settled = await settleResult(deps, job, record, result, {
        progress,
        priceFactor: responsesMode.priceFactor,
        resend,
      });
      if (settled === 'ended') finished++;
      if (settled === 'requeued') requeued++;
    },
    { concurrency: POLL_CONCURRENCY },
  );
  return {
    left: unfinished.length - finished,
    progressed: finished > 0 || requeued > 0,
    ...optional('latencySeconds', median(latencies)),
    ...optional('requeued', requeued || undefined),
  };
}

/** Cancels each submitted item's background response. */
async function withdraw({ deps, items, done }: Withdrawal): Promise<void> {
  const ids = submittedWorkIds(items, done);
  if (ids.length === 0) return;
  for (const id of ids) done.add(id);
  const provider: ResponsesProvider = await deps.provider();
  await pMap(ids, (id) => provider.cancelRequest(id), { concurrency: POLL_CONCURRENCY });
}
