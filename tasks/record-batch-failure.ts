import type { TaskDeps } from '../shared/deps.js';
import { describeCaught, type CaughtError } from '../shared/execution-input.js';
import { endItemsWithError } from '../shared/item-outcomes.js';
import { withdrawFromProvider } from '../shared/withdraw.js';
import type { BatchState } from '../shared/polling.js';
import type { ManifestLine } from '../shared/store/object-store.js';
import { batchIdOf } from './submit-batch.js';

/**
 * The state a child's Catch hands over: the failed task's input (the submit task's batch of
 * items, or the poll loop's BatchState) with the error at `error`.
 */
export type RecordBatchFailureInput = ({ Items: ManifestLine[]; BatchInput: { jobId: string } } | BatchState) & {
  error?: CaughtError;
};

export interface BatchFailureRecord {
  jobId: string;
  batchId: string;
  failed: number;
  error: { name: string; message: string };
}

/**
 * A batch task ran out of retries: withdraw what the batch has at the provider (best effort:
 * the provider may be the thing that is down) and end every unfinished item FAILED with the
 * reason, so no item is lost. The child then fails, and the map's tolerated-failure threshold
 * decides whether the whole job fails.
 */
export async function recordBatchFailure(input: RecordBatchFailureInput, deps: TaskDeps): Promise<BatchFailureRecord> {
  const error = describeCaught(input.error);
  const fromSubmit = 'Items' in input;
  const jobId = fromSubmit ? input.BatchInput.jobId : input.jobId;
  const batchId = fromSubmit ? batchIdOf(input.Items) : input.batchId;
  const batch = await deps.store.getBatch(jobId, batchId);
  const members: { customId: string; index?: number }[] = fromSubmit
    ? input.Items.map((item) => ({ customId: item.customId, index: item.index }))
    : (batch?.customIds ?? []).map((customId) => ({ customId }));
  const records = await deps.store.getItems(jobId, members.map((m) => m.customId));

  const unfinished = members
    .filter((m) => {
      const status = records.get(m.customId)?.status;
      return status === undefined || status === 'QUEUED' || status === 'SUBMITTED';
    })
    .map((m) => ({ ...m, batchId, providerId: records.get(m.customId)?.providerId }));

  await withdrawFromProvider(deps, jobId, batch?.mode ?? (batch?.providerBatchId ? 'batch' : 'responses'), batch?.providerBatchId ? [{ providerId: batch.providerBatchId }] : unfinished);
  const failed = await endItemsWithError(deps, jobId, unfinished, 'FAILED', {
    code: 'batch_failed',
    message: `${error.name}: ${error.message}`,
  });
  await deps.store.appendLog(jobId, 'ERROR', `batch ${batchId} failed: ${failed} item(s) ended FAILED`, { error });
  return { jobId, batchId, failed, error };
}
