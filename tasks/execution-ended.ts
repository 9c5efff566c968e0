import type { TaskDeps } from '../shared/deps.js';
import { errorMessage } from '../shared/errors.js';
import { describeCaught, jobIdOf, parseExecutionInput } from '../shared/execution-input.js';
import { endAllUnfinished, jobFailedEnding } from '../shared/job-lifecycle.js';
import { modeOf } from '../shared/modes/index.js';

/** The EventBridge "Step Functions Execution Status Change" event, the fields we read. */
export interface ExecutionStatusChange {
  detail: {
    executionArn: string;
    name: string;
    status: string;
    /** The execution input as a JSON string. */
    input?: string | null;
    error?: string | null;
    cause?: string | null;
  };
}

/**
 * Safety net for what no Catch sees: an execution stopped by hand, timed out, or failed in a way
 * the workflow could not handle. The job is found from the execution input (an API start names
 * it; a scheduled start derives it), else from the execution's name, and, if it is not terminal
 * yet, marked FAILED with what Step Functions said, and its unfinished items ended FAILED.
 */
export async function onExecutionEnded(
  event: ExecutionStatusChange,
  deps: TaskDeps,
): Promise<{ jobId: string; marked: boolean }> {
  const { status, error, cause } = event.detail;
  const jobId = jobIdFromEvent(event.detail);
  if (status === 'SUCCEEDED' || status === 'RUNNING' || status === 'PENDING_REDRIVE') return { jobId, marked: false };
  const job = await deps.store.getJob(jobId);
  if (!job) return { jobId, marked: false };
  // A Lambda error's cause is its JSON error: keep its message, as the Catch paths do.
  const failure = describeCaught({
    Error: error ?? `Execution${pascalCase(status)}`,
    Cause: cause ?? `the job's execution ended ${status}`,
  });
  const marked = await deps.store.failJob(jobId, failure);
  if (marked) {
    try {
      // No Catch ran, so nothing else ends the items: a FAILED job keeps no item QUEUED or SUBMITTED.
      await endAllUnfinished(deps, job, modeOf(job), jobFailedEnding(failure));
    } catch (sweepError) {
      deps.logger.error("could not end the failed job's items", { jobId, error: errorMessage(sweepError) });
    }
    await deps.store.appendLog(jobId, 'ERROR', `the job's execution ended ${status}; the job was marked FAILED`, {
      executionArn: event.detail.executionArn,
    });
  }
  return { jobId, marked };
}

/** TIMED_OUT -> TimedOut, ABORTED -> Aborted. */
function pascalCase(status: string): string {
  return status
    .split('_')
    .map((word) => word.charAt(0) + word.slice(1).toLowerCase())
    .join('');
}

function jobIdFromEvent(detail: ExecutionStatusChange['detail']): string {
  try {
    if (detail.input) return jobIdOf(parseExecutionInput(JSON.parse(detail.input)));
  } catch {
    // not one of our inputs: fall back to the name
  }
  return detail.name;
}
