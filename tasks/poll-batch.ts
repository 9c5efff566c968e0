import type { TaskDeps } from '../shared/deps.js';
import {
  CANCELLED_BY_USER,
  endUnfinishedItems,
  isUnfinished,
  loadRunningJob,
  recordProgress,
  type Ending,
  type RunningJob,
} from '../shared/job-lifecycle.js';
import { maxAttemptsOf } from '../shared/job-options.js';
import { modeOf } from '../shared/modes/index.js';
import { optional, type PollOutcome } from '../shared/modes/provider-mode.js';
import { initialWaitSeconds, nextWaitSeconds, pollLimitReached, type JobEndWindow } from '../shared/polling.js';
import type { Provider } from '../shared/provider/provider.js';
import { JobProgress } from '../shared/store/job-progress.js';
import { STATUS_FIELDS } from '../shared/store/job-store.js';
import type { BatchState } from '../shared/workflow-state.js';

/**
 * One turn of a child's poll loop: asks the provider, through the job's mode, where the batch's
 * unfinished items stand, ends those that finished, and returns how many are left and how long
 * to wait before the next turn. A cancelled job, the poll-turn bound or the batch deadline ends
 * the rest.
 */
export async function pollBatch(state: BatchState, deps: TaskDeps): Promise<BatchState> {
  const progress = new JobProgress();
  try {
    return await pollBatchTurn(state, countingProvider(deps, progress), progress);
  } finally {
    await recordProgress(deps, state.BatchInput, progress);
  }
}

/** The provider calls a poll turn makes: the job counts them (provider calls per item). */
const COUNTED_CALLS = new Set<PropertyKey>(['pollRequest', 'cancelRequest', 'pollBatch', 'cancelBatch']);

/** The task's deps with a provider that counts its polls and cancels into the turn's progress. */
function countingProvider(deps: TaskDeps, progress: JobProgress): TaskDeps {
  const provider = async (): Promise<Provider> => {
    const real = await deps.provider();
    return new Proxy(real, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          if (COUNTED_CALLS.has(property)) progress.calls.poll++;
          return method.apply(target, args);
        };
      },
    });
  };
  return { ...deps, provider };
}

async function pollBatchTurn(state: BatchState, deps: TaskDeps, progress: JobProgress): Promise<BatchState> {
  const job = await loadRunningJob(deps, state.BatchInput);
  const mode = modeOf(job);
  const records = await deps.store.getItems(job.jobId, state.customIds, STATUS_FIELDS);
  const unfinished = [...records.values()].filter((r) => isUnfinished(r.status));
  const now = deps.clock.now();
  const stopReason = job.cancelRequested ? CANCELLED_BY_USER : pollLimitReached(state, now);

  let turn: PollOutcome;
  if (stopReason) {
    const ending: Ending = { status: job.cancelRequested ? 'CANCELLED' : 'FAILED', reason: stopReason };
    if (unfinished.length > 0) {
      await endUnfinishedItems(deps, job, mode, unfinished, ending, { batchId: state.batchId, progress });
      await deps.store.appendLog(
        job.jobId,
        ending.status === 'CANCELLED' ? 'INFO' : 'WARN',
        `batch ${state.batchId}: ${unfinished.length} item(s) ended ${ending.status}: ${stopReason.message}`,
      );
    }
    turn = { left: 0, progressed: true };
  } else {
    turn = await mode.poll({
      job,
      batchId: state.batchId,
      unfinished,
      ageSeconds: ageSeconds(state, now),
      deps,
      progress,
      // Not past the deadline nor cancelled here (the stop path above): what fails now may be sent again.
      resend: { maxAttempts: maxAttemptsOf(job.options), canResend: true },
    });
  }
  // Later batches of the job make their first poll after this latency.
  if (turn.latencySeconds !== undefined) progress.latencySeconds = turn.latencySeconds;
  const { resend: _previous, ...rest } = state;
  return {
    ...rest,
    ...optional('resend', turn.requeued),
    pending: turn.left,
    waitSeconds: nextWaitSeconds(mode.name, state.waitSeconds, {
      ...turn,
      ...optional('tail', jobEndWindow(job, state, deps.clock.now())),
    }),
    pollTurn: state.pollTurn + 1,
  };
}

/**
 * The end of the job, once every item has been sent or has ended (see JobEndWindow); undefined
 * before. An item sent and then failed counts twice here, so the tail may be seen a little
 * early: a few more turns, never a late one.
 */
function jobEndWindow(job: RunningJob, state: BatchState, now: Date): JobEndWindow | undefined {
  const { total, submitted, failed, cancelled } = job.counts;
  const age = ageSeconds(state, now);
  if (submitted + failed + cancelled < total || age === undefined) return undefined;
  return { ageSeconds: age, expectedSeconds: initialWaitSeconds(job.options.mode, job) };
}

function ageSeconds(state: BatchState, now: Date): number | undefined {
  const sentAt = Date.parse(state.sentAt);
  return Number.isNaN(sentAt) ? undefined : Math.max(0, (now.getTime() - sentAt) / 1000);
}
