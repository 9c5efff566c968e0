import pMap from 'p-map';
import type { TaskDeps } from '../shared/deps.js';
import {
  InvalidRequestError,
  JobNotFoundError,
  RateLimitedError,
  ProviderUnavailableError,
  SubmissionInProgressError,
} from '../shared/errors.js';
import { endItemsWithError, finishWithResult, STORE_CONCURRENCY } from '../shared/item-outcomes.js';
import { SUBMIT_LEASE_MS } from '../shared/limits.js';
import { batchDeadline, initialWaitSeconds, type BatchState } from '../shared/polling.js';
import type { ManifestLine } from '../shared/store/object-store.js';
import type { ItemRecord, JobRecord } from '../shared/types.js';

/** Requests in flight at once from one submit task. */
export const SUBMIT_CONCURRENCY = 8;

/** A Distributed Map child's input: its batch of manifest lines and the job context. */
export interface SubmitBatchInput {
  Items: ManifestLine[];
  BatchInput: { jobId: string };
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

/**
 * Submits one child batch to the provider, idempotently: a retried task skips what is already
 * submitted. Responses mode claims each item before sending it; batch mode claims the batch
 * and sends one provider Batch.
 */
export async function submitBatch(input: SubmitBatchInput, deps: TaskDeps): Promise<BatchState> {
  const job = await loadJob(deps, input.BatchInput.jobId);
  const batchId = batchIdOf(input.Items);
  const mode = job.options.mode;
  const pending =
    mode === 'batch'
      ? await submitAsProviderBatch(job, batchId, input.Items, deps)
      : await submitAsResponses(job, batchId, input.Items, deps);
  return {
    jobId: job.jobId,
    batchId,
    mode,
    pending,
    waitSeconds: initialWaitSeconds(mode),
    pollTurn: 0,
    deadline: batchDeadline(mode, deps.clock()),
  };
}

async function ensureItemRecords(job: JobRecord, batchId: string, items: readonly ManifestLine[], deps: TaskDeps) {
  const ids = items.map((item) => item.customId);
  let records = await deps.store.getItems(job.jobId, ids);
  const missing = items.filter((item) => !records.has(item.customId));
  if (missing.length > 0) {
    await pMap(missing, (item) => deps.store.putQueuedItem(job.jobId, item.customId, item.index, batchId), {
      concurrency: STORE_CONCURRENCY,
    });
    records = await deps.store.getItems(job.jobId, ids);
  }
  return records;
}

function countPending(records: Map<string, ItemRecord>): number {
  let pending = 0;
  for (const record of records.values()) if (record.status === 'QUEUED' || record.status === 'SUBMITTED') pending++;
  return pending;
}

async function submitAsResponses(job: JobRecord, batchId: string, items: readonly ManifestLine[], deps: TaskDeps): Promise<number> {
  await deps.store.putBatch({ jobId: job.jobId, batchId, mode: 'responses', customIds: items.map((i) => i.customId) });
  const records = await ensureItemRecords(job, batchId, items, deps);
  const queued = items.filter((item) => records.get(item.customId)?.status === 'QUEUED');
  if (job.cancelRequested) {
    await endItemsWithError(deps, job.jobId, queued, 'CANCELLED', CANCELLED_BY_USER);
  } else {
    await submitQueuedRequests(job, queued, deps);
  }
  return countPending(await deps.store.getItems(job.jobId, items.map((i) => i.customId)));
}

/**
 * Sends QUEUED items one request each. An item is claimed before it is sent and recorded with
 * its provider id after, both conditionally, so no item is sent twice. A provider refusal of one
 * request fails that item; a rate limit or outage stops the loop and fails the task, so Step
 * Functions retries it with backoff (claims are released, nothing is lost).
 */
export async function submitQueuedRequests(
  job: JobRecord,
  items: readonly { customId: string; line: Record<string, unknown> }[],
  deps: TaskDeps,
): Promise<void> {
  if (items.length === 0) return;
  const provider = await deps.provider();
  const jobType = deps.jobTypes.get(job.jobType);
  let stop: Error | undefined;
  let busy = 0;
  await pMap(
    items,
    async (item) => {
      if (stop) return;
      const lease = await deps.store.claimItem(job.jobId, item.customId, SUBMIT_LEASE_MS);
      if (lease === 'done') return; // submitted already
      if (lease === 'busy') {
        busy++; // another invocation holds it (or died holding it: its lease runs out)
        return;
      }
      try {
        const request = jobType.toRequest(item.line, job.options);
        const progress = await provider.submitRequest(request, `${job.jobId}:${item.customId}`);
        const ours = await deps.store.markItemSubmitted(job.jobId, item.customId, progress.providerId, lease);
        if (!ours) {
          // Our lease expired and another invocation took the item over: withdraw our copy.
          deps.logger.warn('lost the submit claim; cancelling the duplicate request', { jobId: job.jobId, customId: item.customId });
          if (!progress.done) await provider.cancelRequest(progress.providerId);
          return;
        }
        if (progress.done) await finishWithResult(deps, job, item.customId, progress);
      } catch (error) {
        if (error instanceof InvalidRequestError) {
          await endItemsWithError(deps, job.jobId, [item], 'FAILED', { code: error.code, message: error.message });
          return;
        }
        // Stop the loop before the release's round trip, so no other item is sent meanwhile.
        stop ??= error instanceof Error ? error : new Error(String(error));
        await deps.store.releaseItem(job.jobId, item.customId, lease);
      }
    },
    { concurrency: SUBMIT_CONCURRENCY },
  );
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

async function submitAsProviderBatch(job: JobRecord, batchId: string, items: readonly ManifestLine[], deps: TaskDeps): Promise<number> {
  const customIds = items.map((i) => i.customId);
  const claim = await deps.store.claimBatch({ jobId: job.jobId, batchId, mode: 'batch', customIds }, SUBMIT_LEASE_MS);
  if (!claim) {
    const batch = await deps.store.getBatch(job.jobId, batchId);
    if (!batch?.providerBatchId && batch?.leaseUntil !== undefined) {
      throw new SubmissionInProgressError(`batch ${batchId} of job ${job.jobId} is being submitted by another invocation`);
    }
    // Submitted already (this is a retry): carry on polling.
    return countPending(await deps.store.getItems(job.jobId, customIds));
  }
  const records = await ensureItemRecords(job, batchId, items, deps);
  const queued = items.filter((item) => records.get(item.customId)?.status === 'QUEUED');
  if (job.cancelRequested || queued.length === 0) {
    await endItemsWithError(deps, job.jobId, queued, 'CANCELLED', CANCELLED_BY_USER);
    await deps.store.releaseBatch(job.jobId, batchId, claim.lease);
    return 0;
  }

  const provider = await deps.provider();
  const jobType = deps.jobTypes.get(job.jobType);
  const metadata = { jobId: job.jobId, batchId };
  let providerBatchId: string | undefined;
  try {
    // A takeover means an earlier holder died mid-submission: its batch may exist already.
    if (claim.takeover) providerBatchId = await provider.findBatch(metadata);
    providerBatchId ??= (await provider.submitBatch(queued.map((item) => jobType.toRequest(item.line, job.options)), metadata)).providerBatchId;
  } catch (error) {
    if (error instanceof InvalidRequestError) {
      await endItemsWithError(deps, job.jobId, queued, 'FAILED', { code: error.code, message: error.message });
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
  let submitted = 0;
  await pMap(
    queued,
    async (item) => {
      if (await deps.store.markItemSubmitted(job.jobId, item.customId, providerBatchId, undefined, false)) submitted++;
    },
    { concurrency: STORE_CONCURRENCY },
  );
  await deps.store.addSubmitted(job.jobId, submitted);
  return queued.length;
}
