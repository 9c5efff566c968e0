import pMap from 'p-map';
import { InvalidRequestError, SubmissionInProgressError } from '../errors.js';
import { classifyFailure, QUEUE_FULL_CODE, queueLimitFromMessage, type FailureKind } from '../item-failures.js';
import { endItemsWithError, settleFailure, settleResult, STORE_CONCURRENCY, type Settled } from '../item-outcomes.js';
import { CANCELLED_BY_USER, isUnfinished, notYetSubmitted } from '../job-lifecycle.js';
import { SUBMIT_LEASE_MS } from '../limits.js';
import { batchEtaSeconds } from '../polling.js';
import type { BatchProgress, BatchProvider } from '../provider/provider.js';
import type { ItemStatus, ProviderErrorBody } from '../types.js';
import { STATUS_FIELDS, type BatchRecord } from '../store/job-store.js';
import type { ManifestLine } from '../store/object-store.js';
import {
  optional,
  type PollOutcome,
  type PollTurn,
  submittedWorkIds,
  type ProviderModeStrategy,
  type SubmitBatch,
  type Withdrawal,
} from './provider-mode.js';
import { queueBudget, queueHolder, queueModelOf, queueTokensOf, queueWaitSeconds } from './batch-queue.js';
import { sendWithinBudget } from './send-on-turn.js';

/** The Batch API bills half the standard price. */
export const BATCH_PRICE_FACTOR = 0.5;
/** Provider batches cancelled at once by one sweep. */
const CANCEL_CONCURRENCY = 8;

/** Batch mode: one provider Batch per child batch, polled as a whole. */
export const batchMode: ProviderModeStrategy = {
  name: 'batch',
  // No sendAheadMs: a batch creation is one turn, and any turn before the deadline will do.
  priceFactor: BATCH_PRICE_FACTOR,
  submit,
  poll,
  withdraw,
};

/**
 * Claims the batch, then creates one provider Batch of its items not sent yet (all of them at
 * first, the unfinished ones of an earlier round on a resend) and records them SUBMITTED with its
 * id. The batch first holds its input tokens in the key's batch queue budget: with no room, it
 * creates nothing and `run.queueFull` says so (the child waits in Step Functions). A claim lost to
 * a live holder fails with SubmissionInProgressError (Step Functions retries); a claim taken over
 * from a dead holder first looks for the Batch it may have created.
 */
async function submit({ job, batchId, items, deps, run }: SubmitBatch): Promise<number> {
  const customIds = items.map((i) => i.customId);
  const claim = await deps.store.claimBatch({ jobId: job.jobId, batchId, mode: 'batch' }, SUBMIT_LEASE_MS);
  if (!claim) {
    const batch = await deps.store.getBatch(job.jobId, batchId);
    if (!batch?.providerBatchId && batch?.leaseUntil !== undefined) {
      throw new SubmissionInProgressError(
        `batch ${batchId} of job ${job.jobId} is being submitted by another invocation`,
      );
    }
    // Submitted already (this is a retry): record the items an earlier holder did not get to, then poll.
    const records = await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS);
    const unrecorded = notYetSubmitted(items, records);
    if (batch?.providerBatchId)
      await markItemsSubmitted({ job, batchId, items: unrecorded, deps, run }, batch.providerBatchId);
    // Marking an item SUBMITTED leaves it unfinished: the records read are still the count.
    return unfinishedCount(customIds, records);
  }
  // Records exist only if an earlier holder or round got this far: a first run finds none.
  const records = await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS);
  const queued = notYetSubmitted(items, records).map((item) => ({ ...item, batchId }));
  if (job.cancelRequested || queued.length === 0) {
    await endItemsWithError(deps, job.jobId, queued, 'CANCELLED', CANCELLED_BY_USER, run.progress);
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    return job.cancelRequested ? 0 : unfinishedCount(customIds, records);
  }

  const provider: BatchProvider = await deps.provider();
  const limiter = await deps.rateLimiter();
  const metadata = { jobId: job.jobId, batchId, ...(claim.round > 1 && { round: claim.round }) };
  const requests = queued.map((item) => job.compiled.toRequest(item.line));
  const model = queueModelOf(requests, job);
  const holder = queueHolder(job.jobId, batchId);
  const budget = await queueBudget(deps);
  let providerBatchId: string | undefined;
  try {
    // A takeover means an earlier holder died mid-submission: its batch may exist already.
    if (claim.takeover) {
      run.progress.calls.submit++;
      providerBatchId = await provider.findBatch(metadata);
    }
    if (providerBatchId === undefined) {
      const tokens = queueTokensOf(requests);
      const room = await budget.reserve(model, holder, tokens);
      if (room.outcome === 'tooLarge')
        throw new InvalidRequestError(tooLargeMessage(tokens, room.limit), QUEUE_FULL_CODE);
      if (room.outcome === 'full') {
        await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
        run.queueFull = { tokens, enqueued: room.enqueued, limit: room.limit, waitSeconds: queueWaitSeconds(job) };
        return unfinishedCount(customIds, records);
      }
      // One request against the requests-per-minute limit; the batch's tokens count against the
      // provider's separate batch queue limit (the budget above), not the tokens-per-minute one.
      const created = await sendWithinBudget(() => provider.submitBatch(requests, metadata), {
        tokens: 0,
        limiter,
        run,
        deps,
      });
      providerBatchId = created.providerBatchId;
    }
  } catch (error) {
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    if (
      error instanceof InvalidRequestError &&
      error.code === QUEUE_FULL_CODE &&
      !error.message.startsWith(TOO_LARGE)
    ) {
      // Refused at creation for the queue (some providers answer so rather than fail the batch).
      await budget.refused(model, holder, queueLimitFromMessage(error.message));
      run.queueFull = { tokens: queueTokensOf(requests), enqueued: 0, limit: 0, waitSeconds: queueWaitSeconds(job) };
      return unfinishedCount(customIds, records);
    }
    await budget.release(model, holder);
    if (error instanceof InvalidRequestError) {
      const reason = { code: error.code, message: error.message };
      const ended = await endItemsWithError(deps, job.jobId, queued, 'FAILED', reason, run.progress);
      return unfinishedCount(customIds, records) - ended;
    }
    throw error;
  }

  if (!(await deps.store.recordProviderBatch(job.jobId, batchId, providerBatchId, claim.lease, model))) {
    await provider.cancelBatch(providerBatchId);
    throw new SubmissionInProgressError(
      `lost the claim on batch ${batchId} of job ${job.jobId}; its duplicate was cancelled`,
    );
  }
  await markItemsSubmitted({ job, batchId, items: queued, deps, run }, providerBatchId);
  return unfinishedCount(customIds, records);
}

const TOO_LARGE = 'the batch alone';

function tooLargeMessage(tokens: number, limit: number): string {
  return `${TOO_LARGE} holds about ${tokens} input tokens, more than the provider's batch queue limit of ${limit}: use a smaller batchSize`;
}

function unfinishedCount(customIds: readonly string[], records: ReadonlyMap<string, { status?: ItemStatus }>): number {
  return customIds.filter((id) => isUnfinished(records.get(id)?.status)).length;
}

/**
 * Records the items of a provider batch SUBMITTED with the batch's id, creating the records in
 * the same write (a batch-mode item gets its record only once its batch exists: two writes an
 * item, with its end).
 */
async function markItemsSubmitted(
  { job, batchId, items, deps, run }: Omit<SubmitBatch, 'items'> & { items: readonly ManifestLine[] },
  providerBatchId: string,
): Promise<void> {
  await pMap(
    items,
    (item) =>
      deps.store.markItemSubmitted(job.jobId, item.customId, providerBatchId, {
        create: { index: item.index, batchId },
        progress: run.progress,
      }),
    { concurrency: STORE_CONCURRENCY },
  );
}

/**
 * One poll of the child's provider batch. Once it has ended, its tokens leave the queue budget,
 * each line settles its item (a result ends it; a transient failure, or a line the batch left
 * unfinished by expiring or by a cancel of the provider's own, queues it again; a refusal for the
 * queue queues every item again without spending an attempt), and when items were queued again
 * the batch record opens its next round, for Submit batch to send them in a new provider batch.
 */
async function poll({ job, batchId, unfinished, ageSeconds, deps, progress, resend }: PollTurn): Promise<PollOutcome> {
  if (unfinished.length === 0) return { left: 0, progressed: true };
  const batch = await requireBatch(deps, job.jobId, batchId);
  // Queued again by an earlier turn whose resend has not run yet (a retried poll finds them so).
  const waiting = unfinished.filter((r) => r.status === 'QUEUED').length;
  if (!batch.providerBatchId)
    return { left: unfinished.length, progressed: false, ...optional('requeued', waiting || undefined) };
  const provider: BatchProvider = await deps.provider();
  const polled = await provider.pollBatch(batch.providerBatchId);
  if (!polled.done) {
    const eta = ageSeconds === undefined ? undefined : batchEtaSeconds(ageSeconds, polled.counts);
    return { left: unfinished.length, progressed: polled.status === 'finalizing', ...optional('etaSeconds', eta) };
  }
  const missing = missingFailure(polled, batch);
  const budget = await queueBudget(deps);
  const model = batch.queueModel ?? job.options.model ?? 'unknown';
  const holder = queueHolder(job.jobId, batchId);
  if (missing.kind === 'refused') await budget.refused(model, holder, queueLimitFromMessage(missing.error.message));
  else await budget.release(model, holder);

  let requeued = waiting;
  let ended = 0;
  await pMap(
    unfinished.filter((r) => r.status === 'SUBMITTED'),
    async (record) => {
      const result = polled.results.get(record.customId);
      const booking = { progress, priceFactor: BATCH_PRICE_FACTOR, resend };
      let settled: Settled;
      if (result) settled = await settleResult(deps, job, record, result, booking);
      else if (missing.kind === 'cancelled') {
        settled =
          (await endItemsWithError(deps, job.jobId, [record], 'CANCELLED', missing.error, progress)) > 0
            ? 'ended'
            : 'unchanged';
      } else
        settled = await settleFailure(deps, job.jobId, record, { error: missing.error, kind: missing.kind }, booking);
      if (settled === 'requeued') requeued++;
      if (settled === 'ended') ended++;
    },
    { concurrency: STORE_CONCURRENCY },
  );
  if (requeued > 0) await deps.store.reopenBatch(job.jobId, batchId, batch.providerBatchId);
  // Later batches of the job make their first poll about this long after they are sent.
  return {
    left: unfinished.length - ended,
    progressed: true,
    ...optional('latencySeconds', missing.kind === 'refused' ? undefined : ageSeconds),
    ...optional('requeued', requeued || undefined),
  };
}

/**
 * How an ended batch's requests without a line end: a batch that expired, or that the provider
 * cancelled, left them unfinished (transient: sent again); one we cancelled (cancelSent) cancels
 * them; one refused for the batch queue sends them again later; any other failed batch fails
 * them as its error says.
 */
function missingFailure(
  polled: Extract<BatchProgress, { done: true }>,
  batch: BatchRecord,
): { kind: FailureKind | 'cancelled'; error: ProviderErrorBody } {
  const { outcome, code, message } = polled.missing;
  const error = { code, message };
  if (outcome === 'cancelled') return { kind: batch.cancelSent ? 'cancelled' : 'transient', error };
  return { kind: classifyFailure(error), error };
}

/** The batch's record (its provider batch id); it has one from its submit on. */
async function requireBatch(deps: PollTurn['deps'], jobId: string, batchId: string): Promise<BatchRecord> {
  const batch = await deps.store.getBatch(jobId, batchId);
  if (!batch) throw new Error(`batch ${batchId} of job ${jobId} has no record; was it submitted?`);
  return batch;
}

/**
 * Cancels the provider batch behind the items, once: the batch record's id when known (marked
 * cancel-sent, so a later stop does not cancel it again), else the ids the items were submitted with.
 */
async function withdraw({ deps, jobId, items, batch: known, batchId, done }: Withdrawal): Promise<void> {
  const batch = known ?? (batchId === undefined ? undefined : await deps.store.getBatch(jobId, batchId));
  if (batch?.cancelSent) return;
  const toCancel = batch?.providerBatchId
    ? [batch.providerBatchId].filter((id) => !done.has(id))
    : submittedWorkIds(items, done);
  if (toCancel.length === 0) return;
  for (const id of toCancel) done.add(id);
  const provider: BatchProvider = await deps.provider();
  await pMap(toCancel, (id) => provider.cancelBatch(id), { concurrency: CANCEL_CONCURRENCY });
  if (batch?.providerBatchId) await deps.store.markBatchCancelSent(jobId, batch.batchId);
  // A cancelled batch leaves the queue within minutes: its tokens need not wait for its last poll.
  if (batch?.queueModel) await (await queueBudget(deps)).release(batch.queueModel, queueHolder(jobId, batch.batchId));
}
