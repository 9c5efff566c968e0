import type { TaskDeps } from '../shared/deps.js';
import { describeCaught } from '../shared/execution-input.js';
import { batchIdOf, endUnfinishedItems, type EndableItem } from '../shared/job-lifecycle.js';
import { modeOf } from '../shared/modes/index.js';
import type { BatchFailureRecord, BatchFailureState } from '../shared/workflow-state.js';

/** The state a child's Catch hands over: the failed task's input with the error at `error`. */
export type RecordBatchFailureInput = BatchFailureState;

export type { BatchFailureRecord } from '../shared/workflow-state.js';

/**
 * A batch task ran out of retries: withdraw what the batch has at the provider (best effort:
 * the provider may be the thing that is down) and end every unfinished item FAILED with the
 * reason, so no item is lost. The child then fails, and the map's tolerated-failure threshold
 * decides whether the whole job fails.
 */
export async function recordBatchFailure(input: RecordBatchFailureInput, deps: TaskDeps): Promise<BatchFailureRecord> {
  const error = describeCaught(input.error);
  const fromSubmit = 'Items' in input;
  const job = input.BatchInput;
  const jobId = job.jobId;
  const batchId = fromSubmit ? batchIdOf(input.Items) : input.batchId;
  // From the submit task an item may have no record yet: its manifest place creates it.
  const members: EndableItem[] = fromSubmit
    ? input.Items.map((item) => ({ customId: item.customId, index: item.index, batchId }))
    : input.customIds.map((customId) => ({ customId }));
  const records = await deps.store.getItems(
    jobId,
    members.map((m) => m.customId),
  );
  const items = members.map((m) => ({
    ...m,
    status: records.get(m.customId)?.status,
    providerId: records.get(m.customId)?.providerId,
  }));

  const failed = await endUnfinishedItems(
    deps,
    job,
    modeOf(job),
    items,
    {
      status: 'FAILED',
      reason: { code: 'batch_failed', message: `${error.name}: ${error.message}` },
    },
    { batchId },
  );
  await deps.store.appendLog(jobId, 'ERROR', `batch ${batchId} failed: ${failed} item(s) ended FAILED`, { error });
  return { jobId, batchId, failed, error };
}
