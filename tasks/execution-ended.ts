import type { TaskDeps } from '../shared/deps.js';

/** The EventBridge "Step Functions Execution Status Change" event, the fields we read. */
export interface ExecutionStatusChange {
  detail: {
    executionArn: string;
    name: string;
    status: string;
    error?: string | null;
    cause?: string | null;
  };
}

/**
 * Safety net for what no Catch sees: an execution stopped by hand, timed out, or failed in a way
 * the workflow could not handle. The execution is named after the job, so the job is found by the
 * execution's name and, if it is not terminal yet, marked FAILED with what Step Functions said.
 */
export async function onExecutionEnded(event: ExecutionStatusChange, deps: TaskDeps): Promise<{ jobId: string; marked: boolean }> {
  const { name: jobId, status, error, cause } = event.detail;
  if (status === 'SUCCEEDED' || status === 'RUNNING' || status === 'PENDING_REDRIVE') return { jobId, marked: false };
  const job = await deps.store.getJob(jobId);
  if (!job) return { jobId, marked: false };
  const marked = await deps.store.failJob(jobId, {
    name: error ?? `Execution${status.charAt(0)}${status.slice(1).toLowerCase()}`,
    message: cause ?? `the job's execution ended ${status}`,
  });
  if (marked) {
    await deps.store.appendLog(jobId, 'ERROR', `the job's execution ended ${status}; the job was marked FAILED`, {
      executionArn: event.detail.executionArn,
    });
  }
  return { jobId, marked };
}
