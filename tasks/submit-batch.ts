import type { TaskDeps } from '../shared/deps.js';
import { batchIdOf, loadRunningJob, recordProgress } from '../shared/job-lifecycle.js';
import { TASK_TIMEOUT_SECONDS } from '../shared/limits.js';
import { modeOf } from '../shared/modes/index.js';
import type { BookedTurnsLeft, SubmitRun } from '../shared/modes/send-on-turn.js';
import { batchDeadline, initialWaitSeconds } from '../shared/polling.js';
import { JobProgress } from '../shared/store/job-progress.js';
import type { BatchState, RateLimitWait, SubmitBatchInput } from '../shared/workflow-state.js';

export type { SubmitBatchInput } from '../shared/workflow-state.js';

/**
 * How long one submit invocation starts new requests: the Lambda timeout less room for the
 * requests still in flight (the client's 60 s timeout) and the bookkeeping after them. Past it
 * the task fails with RateLimitedError and Step Functions' Retry resumes it.
 */
export const SUBMIT_TIME_BUDGET_MS = (TASK_TIMEOUT_SECONDS - 90) * 1000;
/** The child comes back this long before its first booked turn (a Wait and an invocation take a moment). */
export const TURN_LEAD_MS = 2_000;

/** Options of one submit invocation. */
export interface SubmitOptions {
  /** How long this invocation may start requests for (default SUBMIT_TIME_BUDGET_MS). */
  timeBudgetMs?: number;
}

/**
 * Submits one child batch to the provider through the job's mode, idempotently: a retried task
 * skips what is already submitted. Every create call waits for a turn from the provider key's
 * shared rate limiter; the provider calls made are added to the job's counters once, at the end.
 * Items left for turns booked later come back as a RateLimitWait.
 */
export async function submitBatch(
  input: SubmitBatchInput,
  deps: TaskDeps,
  options: SubmitOptions = {},
): Promise<BatchState | RateLimitWait> {
  const deadline = deps.clock.now().getTime() + (options.timeBudgetMs ?? SUBMIT_TIME_BUDGET_MS);
  const job = await loadRunningJob(deps, input.BatchInput);
  const batchId = batchIdOf(input.Items);
  const mode = modeOf(job);
  const run: SubmitRun = {
    deadline,
    progress: new JobProgress(),
    ...(mode.sendAheadMs !== undefined && { sendAheadMs: mode.sendAheadMs }),
    ...(input.reservation && { reservation: input.reservation }),
  };
  let pending: number;
  try {
    pending = await mode.submit({ job, batchId, items: input.Items, deps, run });
  } finally {
    await recordProgress(deps, job, run.progress);
  }
  const now = deps.clock.now();
  const state: Omit<BatchState, 'customIds'> = {
    BatchInput: input.BatchInput,
    batchId,
    pending,
    waitSeconds: initialWaitSeconds(mode.name, job),
    pollTurn: 0,
    deadline: batchDeadline(mode.name, now),
    sentAt: now.toISOString(),
  };
  if (!run.later) return { ...state, customIds: input.Items.map((item) => item.customId) };
  return { ...state, ...rateLimitWait(run.later, now.getTime()), Items: input.Items };
}

function rateLimitWait(
  later: BookedTurnsLeft,
  now: number,
): Pick<RateLimitWait, 'unsent' | 'waitSeconds' | 'reservation'> {
  const first = later.reservation?.at[0] ?? later.nextTurnAt;
  const waitSeconds = Math.max(0, Math.floor((first - TURN_LEAD_MS - now) / 1000));
  return { unsent: later.unsent, waitSeconds, ...(later.reservation && { reservation: later.reservation }) };
}
