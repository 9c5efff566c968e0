import type { TaskDeps } from '../shared/deps.js';
import { errorMessage } from '../shared/errors.js';
import { describeCaught, jobIdOf, parseExecutionInput, type CaughtError } from '../shared/execution-input.js';
import { endAllUnfinished, jobFailedEnding } from '../shared/job-lifecycle.js';
import { modeOf } from '../shared/modes/index.js';

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
 * then its unfinished items are ended FAILED, their work withdrawn from the provider first and
 * manifest items that never got a record given one (best effort: whatever broke the job may break this
 * too, and the job's status matters most).
 */
export async function markJobFailed(
  event: MarkJobFailedInput,
  deps: TaskDeps,
): Promise<{ jobId?: string; marked: boolean }> {
  const error = describeCaught(event.error);
  const jobId = event.job?.jobId ?? jobIdFromInput(event);
  if (!jobId) {
    deps.logger.error('job failed before it had an id', { error });
    return { marked: false };
  }
  const marked = await deps.store.failJob(jobId, error);
  if (!marked) return { jobId, marked };
  try {
    const job = await deps.store.getJob(jobId);
    if (job) await endAllUnfinished(deps, job, modeOf(job), jobFailedEnding(error));
    await deps.store.appendLog(jobId, 'ERROR', `job failed: ${error.name}: ${error.message}`);
  } catch (sweepError) {
    deps.logger.error("could not end the failed job's items", { jobId, error: errorMessage(sweepError) });
  }
  return { jobId, marked };
}

function jobIdFromInput(input: unknown): string | undefined {
  try {
    return jobIdOf(parseExecutionInput(input));
  } catch {
    return undefined;
  }
}
