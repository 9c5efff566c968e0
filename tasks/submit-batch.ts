import type { TaskDeps } from '../shared/deps.js';
import {
  batchIdOf,
  endUnfinishedItems,
  loadRunningJob,
  recordProgress,
  type RunningJob,
} from '../shared/job-lifecycle.js';
import { MAX_POLL_TURNS, TASK_TIMEOUT_SECONDS } from '../shared/limits.js';
import { modeOf } from '../shared/modes/index.js';
import type { BookedTurnsLeft, SubmitRun } from '../shared/modes/send-on-turn.js';
import { batchDeadline, initialWaitSeconds, pollLimitReached } from '../shared/polling.js';
import { JobProgress } from '../shared/store/job-progress.js';
import { STATUS_FIELDS } from '../shared/store/job-store.js';
import type { BatchState, QueueRoomWait, RateLimitWait, SubmitBatchInput } from '../shared/workflow-state.js';

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
 * Items left for turns booked later come back as a RateLimitWait; a batch with no room in the
 * provider's batch queue as a QueueRoomWait.
 */
export async function submitBatch(
  input: SubmitBatchInput,
  deps: TaskDeps,
  options: SubmitOptions = {},
): Promise<BatchState | RateLimitWait | QueueRoomWait> {
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
  // Back through a wait or a resend, a submit is a turn of the child's bound, as a poll is.
  const pollTurn = input.pollTurn === undefined ? 0 : input.pollTurn + 1;
  let pending: number;
  try {
    // Back from a resend or a wait after the child's last allowed turn: what is left ends here.
    pending =
      pollTurn >= MAX_POLL_TURNS
        ? await endAtTurnBound(deps, job, batchId, input, run)
        : await mode.submit({ job, batchId, items: input.Items, deps, run });
  } finally {
    await recordProgress(deps, job, run.progress);
  }
  const now = deps.clock.now();
  const state: Omit<BatchState, 'customIds'> = {
    BatchInput: input.BatchInput,
    batchId,
    pending,
    waitSeconds: initialWaitSeconds(mode.name, job),
    pollTurn,
    deadline: batchDeadline(mode.name, now),
    sentAt: now.toISOString(),
  };
  if (run.queueFull && pending > 0) {
    const { waitSeconds, ...queueFull } = run.queueFull;
    return { ...state, waitSeconds, queueFull, Items: input.Items };
  }
  if (!run.later) return { ...state, customIds: input.Items.map((item) => item.customId) };
  return { ...state, ...rateLimitWait(run.later, now.getTime()), Items: input.Items };
}

/** Ends the batch's unfinished items FAILED with the turn bound's reason; returns 0 (nothing pending). */
async function endAtTurnBound(
  deps: TaskDeps,
  job: RunningJob,
  batchId: string,
  input: SubmitBatchInput,
  run: SubmitRun,
): Promise<number> {
  const reason = pollLimitReached({ pollTurn: MAX_POLL_TURNS, deadline: '9999-12-31T00:00:00.000Z' }, deps.clock.now());
  if (!reason) return 0;
  const records = await deps.store.getItems(
    job.jobId,
    input.Items.map((item) => item.customId),
    STATUS_FIELDS,
  );
  const items = input.Items.map((item) => ({ ...item, batchId, ...records.get(item.customId) }));
  await endUnfinishedItems(
    deps,
    job,
    modeOf(job),
    items,
    { status: 'FAILED', reason },
    { batchId, progress: run.progress },
  );
  return 0;
}

function rateLimitWait(
  later: BookedTurnsLeft,
  now: number,
): Pick<RateLimitWait, 'unsent' | 'waitSeconds' | 'reservation'> {
  const first = later.reservation?.at[0] ?? later.nextTurnAt;
  const waitSeconds = Math.max(0, Math.floor((first - TURN_LEAD_MS - now) / 1000));
  return { unsent: later.unsent, waitSeconds, ...(later.reservation && { reservation: later.reservation }) };
}
