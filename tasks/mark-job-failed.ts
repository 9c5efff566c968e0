import type { TaskDeps } from '../shared/deps.js';
import { errorMessage } from '../shared/errors.js';
import { describeCaught, jobIdOf, parseExecutionInput, type CaughtError } from '../shared/execution-input.js';
import { endItemsWithError } from '../shared/item-outcomes.js';

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

/** Ends every item of a failed job that is still QUEUED or SUBMITTED, FAILED with the job's error. */
export async function failUnfinishedItems(deps: TaskDeps, jobId: string, error: { name: string; message: string }): Promise<void> {
  for await (const page of deps.store.allItems(jobId)) {
    const unfinished = page.filter((item) => item.status === 'QUEUED' || item.status === 'SUBMITTED');
    await endItemsWithError(deps, jobId, unfinished, 'FAILED', {
      code: 'workflow_failed',
      message: `the job's workflow failed: ${error.name}: ${error.message}`,
    });
  }
}

function jobIdFromInput(input: unknown): string | undefined {
  try {
    return jobIdOf(parseExecutionInput(input));
  } catch {
    return undefined;
  }
}
