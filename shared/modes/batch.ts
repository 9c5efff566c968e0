import pMap from 'p-map';
import { InvalidRequestError, SubmissionInProgressError } from '../errors.js';
import { endItemsWithError, finishWithResult, STORE_CONCURRENCY } from '../item-outcomes.js';
import { CANCELLED_BY_USER, isUnfinished, notYetSubmitted } from '../job-lifecycle.js';
import { SUBMIT_LEASE_MS } from '../limits.js';
import { batchEtaSeconds } from '../polling.js';
import type { BatchProvider } from '../provider/provider.js';
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
 * Claims the batch, then creates one provider Batch of its items and records them SUBMITTED with
 * its id. A claim lost to a live holder fails with SubmissionInProgressError (Step Functions
 * retries); a claim taken over from a dead holder first looks for the Batch it may have created.
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
    const unrecorded = items.filter((item) => !records.has(item.customId));
    if (batch?.providerBatchId)
      await markItemsSubmitted({ job, batchId, items: unrecorded, deps, run }, batch.providerBatchId);
    const pending = [...records.values()].filter((record) => isUnfinished(record.status)).length;
    return pending + (batch?.providerBatchId ? unrecorded.length : 0);
  }
  // Records exist only if an earlier holder got this far: a first run finds none.
  const queued = notYetSubmitted(items, await deps.store.getItems(job.jobId, customIds, STATUS_FIELDS)).map((item) => ({
    ...item,
    batchId,
  }));
  if (job.cancelRequested || queued.length === 0) {
    await endItemsWithError(deps, job.jobId, queued, 'CANCELLED', CANCELLED_BY_USER, run.progress);
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    return 0;
  }

  const provider: BatchProvider = await deps.provider();
  const limiter = await deps.rateLimiter();
  const metadata = { jobId: job.jobId, batchId };
  let providerBatchId: string | undefined;
  try {
    // A takeover means an earlier holder died mid-submission: its batch may exist already.
    if (claim.takeover) {
      run.progress.calls.submit++;
      providerBatchId = await provider.findBatch(metadata);
    }
    if (providerBatchId === undefined) {
      const requests = queued.map((item) => job.compiled.toRequest(item.line));
      // One request against the requests-per-minute limit; the batch's tokens count against the
      // provider's separate batch queue limit, not the tokens-per-minute one.
      const created = await sendWithinBudget(() => provider.submitBatch(requests, metadata), {
        tokens: 0,
        limiter,
        run,
        deps,
      });
      providerBatchId = created.providerBatchId;
    }
  } catch (error) {
    if (error instanceof InvalidRequestError) {
      await endItemsWithError(
        deps,
        job.jobId,
        queued,
        'FAILED',
        { code: error.code, message: error.message },
        run.progress,
      );
      await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
      return 0;
    }
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    throw error;
  }

  if (!(await deps.store.recordProviderBatch(job.jobId, batchId, providerBatchId, claim.lease))) {
    await provider.cancelBatch(providerBatchId);
    throw new SubmissionInProgressError(
      `lost the claim on batch ${batchId} of job ${job.jobId}; its duplicate was cancelled`,
    );
  }
  await markItemsSubmitted({ job, batchId, items: queued, deps, run }, providerBatchId);
  return queued.length;
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

async function poll({ job, batchId, unfinished, ageSeconds, deps, progress }: PollTurn): Promise<PollOutcome> {
  if (unfinished.length === 0) return { left: 0, progressed: true };
  const batch = await requireBatch(deps, job.jobId, batchId);
  if (!batch.providerBatchId) return { left: 0, progressed: true };
  const provider: BatchProvider = await deps.provider();
  const polled = await provider.pollBatch(batch.providerBatchId);
  if (!polled.done) {
    const eta = ageSeconds === undefined ? undefined : batchEtaSeconds(ageSeconds, polled.counts);
    return { left: unfinished.length, progressed: polled.status === 'finalizing', ...optional('etaSeconds', eta) };
  }
  await pMap(
    unfinished,
    async (record) => {
      const result = polled.results.get(record.customId);
      if (result) {
        await finishWithResult(deps, job, record.customId, result, { progress, priceFactor: BATCH_PRICE_FACTOR });
      } else {
        const { outcome, code, message } = polled.missing;
        await endItemsWithError(
          deps,
          job.jobId,
          [record],
          outcome === 'cancelled' ? 'CANCELLED' : 'FAILED',
          { code, message },
          progress,
        );
      }
    },
    { concurrency: STORE_CONCURRENCY },
  );
  // Later batches of the job make their first poll about this long after they are sent.
  return { left: 0, progressed: true, ...optional('latencySeconds', ageSeconds) };
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
}
