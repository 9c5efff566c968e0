import type { TaskDeps } from '../deps.js';
import type { RunningJob } from '../job-lifecycle.js';
import { POLL_INTERVALS } from '../limits.js';
import { initialWaitSeconds } from '../polling.js';
import { BatchQueueBudget } from '../rate-limit/batch-queue-budget.js';
import { estimateInputTokens } from '../rate-limit/estimate.js';
import type { ProviderRequest } from '../types.js';

/**
 * How batch mode uses the provider key's batch queue budget (shared/rate-limit/batch-queue-budget.ts):
 * which record a batch holds tokens in, how many, and how long a child waits for room.
 */

/** The holder of a child batch's tokens: one provider batch of the child at a time. */
export function queueHolder(jobId: string, batchId: string): string {
  return `${jobId}/${batchId}`;
}

/** The key's budget, on the job table, keyed like its rate bucket. */
export async function queueBudget(deps: TaskDeps): Promise<BatchQueueBudget> {
  const limiter = await deps.rateLimiter();
  return new BatchQueueBudget(deps.store.table, limiter.keyId, () => deps.clock.now().getTime());
}

/** The model whose queue the batch goes to: its requests' model, else the job's. */
export function queueModelOf(requests: readonly ProviderRequest[], job: Pick<RunningJob, 'options'>): string {
  const model = requests[0]?.body.model;
  return typeof model === 'string' && model !== '' ? model : (job.options.model ?? 'unknown');
}

/** The batch's estimated input tokens: what it holds in the queue while it runs. */
export function queueTokensOf(requests: readonly ProviderRequest[]): number {
  return requests.reduce((sum, request) => sum + estimateInputTokens(request), 0);
}

/**
 * How long a child waits for room: a quarter of how long this job's provider batches take (room
 * comes when one ends), within the batch poll bounds.
 */
export function queueWaitSeconds(job: Pick<RunningJob, 'latencyEstimateSeconds'>): number {
  const { min, max } = POLL_INTERVALS.batch;
  return Math.round(Math.min(max, Math.max(min, initialWaitSeconds('batch', job) / 4)));
}
