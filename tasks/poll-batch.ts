import pMap from 'p-map';
import type { TaskDeps } from '../shared/deps.js';
import type { Provider } from '../shared/provider/provider.js';
import { endItemsWithError, finishWithResult } from '../shared/item-outcomes.js';
import { batchEtaSeconds, initialWaitSeconds, median, nextWaitSeconds, observedLatencySeconds, pollLimitReached, type BatchState, type JobEndWindow } from '../shared/polling.js';
import { JobProgress } from '../shared/store/job-progress.js';
import { STATUS_FIELDS, type BatchRecord } from '../shared/store/job-store.js';
import type { ItemRecord, JobRecord, ProviderErrorBody } from '../shared/types.js';
import { CANCELLED_BY_USER, loadJob, recordProgress } from './submit-batch.js';

/** Background responses polled at once by one poll task. */
export const POLL_CONCURRENCY = 8;

/**
 * One turn of a child's poll loop: asks the provider where the batch's unfinished items stand,
 * ends those that finished, and returns how many are left and how long to wait before the next
 * turn. A cancelled job, the poll-turn bound or the batch deadline ends the rest.
 */
export async function pollBatch(state: BatchState, deps: TaskDeps): Promise<BatchState> {
  const progress = new JobProgress();
  try {
    return await pollBatchTurn(state, countingProvider(deps, progress), progress);
  } finally {
    await recordProgress(deps, state.jobId, progress);
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

/** What a poll reads of an item. */
type ItemState = Pick<ItemRecord, 'customId' | 'status' | 'providerId'>;

async function pollBatchTurn(state: BatchState, deps: TaskDeps, progress: JobProgress): Promise<BatchState> {
  const job = await loadJob(deps, state.jobId);
  const batch = await deps.store.getBatch(state.jobId, state.batchId);
  if (!batch) throw new Error(`batch ${state.batchId} of job ${state.jobId} has no record; was it submitted?`);
  const records = await deps.store.getItems(state.jobId, batch.customIds, STATUS_FIELDS);
  const unfinished = [...records.values()].filter((r) => r.status === 'QUEUED' || r.status === 'SUBMITTED');
  const stopReason = job.cancelRequested ? CANCELLED_BY_USER : pollLimitReached(state, deps.clock.now());

  let turn: PollOutcome;
  if (stopReason) {
    await stopBatch(job, state, batch, unfinished, stopReason, job.cancelRequested ? 'CANCELLED' : 'FAILED', deps, progress);
    turn = { left: 0, progressed: true };
  } else if (state.mode === 'batch') {
    turn = await pollProviderBatch(job, batch, unfinished, ageSeconds(state, deps.clock.now()), deps, progress);
  } else {
    turn = await pollResponses(job, unfinished, deps, progress);
  }
  // Later batches of the job make their first poll after this latency.
  if (turn.latencySeconds !== undefined) progress.latencySeconds = turn.latencySeconds;
  return {
    ...state,
    pending: turn.left,
    waitSeconds: nextWaitSeconds(state.mode, state.waitSeconds, { ...turn, ...optional('tail', jobEndWindow(job, state, deps.clock.now())) }),
    pollTurn: state.pollTurn + 1,
  };
}

/**
 * The end of the job, once every item has been sent or has ended (see JobEndWindow); undefined
 * before. An item sent and then failed counts twice here, so the tail may be seen a little
 * early: a few more turns, never a late one.
 */
function jobEndWindow(job: JobRecord, state: BatchState, now: Date): JobEndWindow | undefined {
  const { total, submitted, failed, cancelled } = job.counts;
  const age = ageSeconds(state, now);
  if (submitted + failed + cancelled < total || age === undefined) return undefined;
  return { ageSeconds: age, expectedSeconds: initialWaitSeconds(state.mode, job) };
}

/** What one poll turn saw: items still unfinished, whether any finished, how long they took, when a provider batch should be done. */
interface PollOutcome {
  left: number;
  progressed: boolean;
  latencySeconds?: number;
  etaSeconds?: number;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function ageSeconds(state: BatchState, now: Date): number | undefined {
  const sentAt = Date.parse(state.sentAt);
  return Number.isNaN(sentAt) ? undefined : Math.max(0, (now.getTime() - sentAt) / 1000);
}

async function pollResponses(job: JobRecord, unfinished: ItemState[], deps: TaskDeps, progress: JobProgress): Promise<PollOutcome> {
  const provider = await deps.provider();
  // The submit task succeeds only once every item is past QUEUED, so one still QUEUED here was
  // never sent: end it now rather than poll for it until the turn bound.
  const queued = unfinished.filter((r) => r.status === 'QUEUED');
  let finished = await endItemsWithError(deps, job.jobId, queued, 'FAILED', {
    code: 'not_submitted',
    message: 'the item was never submitted to the provider',
  }, progress);
  const latencies: number[] = [];
  await pMap(
    unfinished.filter((r) => r.status === 'SUBMITTED' && r.providerId),
    async (record) => {
      const result = await provider.pollRequest(record.providerId as string, record.customId);
      if (!result.done) return;
      const latency = observedLatencySeconds(result.output);
      if (latency !== undefined) latencies.push(latency);
      if (await finishWithResult(deps, job, record.customId, result, progress)) finished++;
    },
    { concurrency: POLL_CONCURRENCY },
  );
  const latencySeconds = median(latencies);
  return { left: unfinished.length - finished, progressed: finished > 0, ...(latencySeconds !== undefined ? { latencySeconds } : {}) };
}

async function pollProviderBatch(
  job: JobRecord,
  batch: BatchRecord,
  unfinished: ItemState[],
  age: number | undefined,
  deps: TaskDeps,
  progress: JobProgress,
): Promise<PollOutcome> {
  if (!batch.providerBatchId || unfinished.length === 0) return { left: 0, progressed: true };
  const provider = await deps.provider();
  const polled = await provider.pollBatch(batch.providerBatchId);
  if (!polled.done) {
    const eta = age === undefined ? undefined : batchEtaSeconds(age, polled.counts);
    return { left: unfinished.length, progressed: polled.status === 'finalizing', ...optional('etaSeconds', eta) };
  }
  await pMap(
    unfinished,
    async (record) => {
      const result = polled.results.get(record.customId);
      if (result) {
        await finishWithResult(deps, job, record.customId, result, progress);
      } else {
        const { outcome, code, message } = polled.missing;
        await endItemsWithError(deps, job.jobId, [record], outcome === 'cancelled' ? 'CANCELLED' : 'FAILED', { code, message }, progress);
      }
    },
    { concurrency: 16 },
  );
  // Later batches of the job make their first poll about this long after they are sent.
  return { left: 0, progressed: true, ...optional('latencySeconds', age) };
}

/** Withdraws the batch's work from the provider and ends its unfinished items with the reason. */
async function stopBatch(
  job: JobRecord,
  state: BatchState,
  batch: BatchRecord,
  unfinished: ItemState[],
  reason: ProviderErrorBody,
  status: 'FAILED' | 'CANCELLED',
  deps: TaskDeps,
  progress: JobProgress,
): Promise<void> {
  if (unfinished.length === 0) return;
  const provider = await deps.provider();
  if (state.mode === 'batch') {
    if (batch.providerBatchId && !batch.cancelSent) {
      await provider.cancelBatch(batch.providerBatchId);
      await deps.store.markBatchCancelSent(state.jobId, state.batchId);
    }
  } else {
    await pMap(
      unfinished.filter((r) => r.status === 'SUBMITTED' && r.providerId),
      (record) => provider.cancelRequest(record.providerId as string),
      { concurrency: POLL_CONCURRENCY },
    );
  }
  await endItemsWithError(deps, job.jobId, unfinished, status, reason, progress);
  await deps.store.appendLog(job.jobId, status === 'CANCELLED' ? 'INFO' : 'WARN', `batch ${state.batchId}: ${unfinished.length} item(s) ended ${status}: ${reason.message}`);
}
