import type { TaskDeps } from '../shared/deps.js';
import { errorMessage } from '../shared/errors.js';
import { describeCaught, jobIdOf, parseExecutionInput, type CaughtError } from '../shared/execution-input.js';
import { endItemsWithError, NEVER_BATCHED } from '../shared/item-outcomes.js';
import { withdrawFromProvider } from '../shared/withdraw.js';

/**
 * The state a job-level Catch hands over: the execution's state (its input, and `job` once
 * Prepare job ran) with the error at `error`.
 */
export interface MarkJobFailedInput {
  job?: { jobId: string };
  error?: CaughtError;
  [field: string]: unknown;
}

/**
 * Last stop before the workflow's Fail state: the job leaves RUNNING for FAILED with the error,
 * then its unfinished items are ended FAILED (best effort: whatever broke the job may break this
 * too, and the job's status matters most).
 */
export async function markJobFailed(event: MarkJobFailedInput, deps: TaskDeps): Promise<{ jobId?: string; marked: boolean }> {
  const error = describeCaught(event.error);
  const jobId = event.job?.jobId ?? jobIdFromInput(event);
  if (!jobId) {
    deps.logger.error('job failed before it had an id', { error });
    return { marked: false };
  }
  const marked = await deps.store.failJob(jobId, error);
  if (!marked) return { jobId, marked };
  try {
    await failUnfinishedItems(deps, jobId, error);
    await deps.store.appendLog(jobId, 'ERROR', `job failed: ${error.name}: ${error.message}`);
  } catch (sweepError) {
    deps.logger.error('could not end the failed job\'s items', { jobId, error: errorMessage(sweepError) });
  }
  return { jobId, marked };
}

/**
 * Ends every item of a failed job that is not terminal, FAILED with the job's error: submitted work
 * is withdrawn from the provider first, and manifest items that never got a record get one.
 */
export async function failUnfinishedItems(deps: TaskDeps, jobId: string, error: { name: string; message: string }): Promise<void> {
  const job = await deps.store.getJob(jobId);
  if (!job) return;
  const reason = { code: 'workflow_failed', message: `the job's workflow failed: ${error.name}: ${error.message}` };
  const cancelled = new Set<string>();
  const seen = new Set<string>();
  for await (const page of deps.store.allItems(jobId)) {
    for (const item of page) seen.add(item.customId);
    const unfinished = page.filter((item) => item.status === 'QUEUED' || item.status === 'SUBMITTED');
    await withdrawFromProvider(deps, jobId, job.options.mode, unfinished, cancelled);
    await endItemsWithError(deps, jobId, unfinished, 'FAILED', reason);
  }
  const neverRan: { customId: string; index: number; batchId: string }[] = [];
  for await (const line of deps.objects.readManifest(job.manifest)) {
    if (!seen.has(line.customId)) neverRan.push({ customId: line.customId, index: line.index, batchId: NEVER_BATCHED });
  }
  await endItemsWithError(deps, jobId, neverRan, 'FAILED', reason);
}

function jobIdFromInput(input: unknown): string | undefined {
  try {
    return jobIdOf(parseExecutionInput(input));
  } catch {
    return undefined;
  }
}
