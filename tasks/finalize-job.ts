import type { TaskDeps } from '../shared/deps.js';
import { describeCaught } from '../shared/execution-input.js';
import { errorOutputLine } from '../shared/item-outcomes.js';
import {
  CANCELLED_BY_USER,
  endUnfinishedJob,
  isTerminalJob,
  loadJob,
  type Ending,
  type SweptItem,
} from '../shared/job-lifecycle.js';
import { modeOf } from '../shared/modes/index.js';
import type { FinalJobState } from '../shared/store/job-store.js';
import type { ItemRecord, JobCounts, JobRecord, JobStatus, OutputLine, TokenUsage } from '../shared/types.js';
import type { AttemptStats } from '../shared/types.js';
import type { JobState, JobSummary } from '../shared/workflow-state.js';

export type { JobSummary } from '../shared/workflow-state.js';

/** What Finalize job reads of the job's state. */
export type FinalizeJobInput = Pick<JobState, 'job' | 'mapError'>;

/**
 * The reducer. Reads every item once: ends any still unfinished (the map failed or was cut
 * short), writes the results file in the OpenAI Batch output format (one line per manifest item,
 * same custom_id), counts the terminal states from the items themselves (so each is counted
 * exactly once, whatever the live counters say), and sets the job's terminal status.
 */
export async function finalizeJob(input: FinalizeJobInput, deps: TaskDeps): Promise<JobSummary> {
  const job = await loadJob(deps, input.job.jobId);
  if (isTerminalJob(job.status)) return summaryOf(job);

  const mapError = input.mapError ? describeCaught(input.mapError) : undefined;
  const straggler: Ending = job.cancelRequested
    ? { status: 'CANCELLED', reason: CANCELLED_BY_USER }
    : {
        status: 'FAILED',
        reason: mapError
          ? {
              code: 'workflow_failed',
              message: `the job's workflow failed before this item finished: ${mapError.name}: ${mapError.message}`,
            }
          : { code: 'not_finished', message: 'the workflow ended before this item finished' },
      };

  const counter = new StatusCounter();
  const writer = deps.objects.openResultsWriter(job.jobId);
  try {
    for await (const page of endUnfinishedJob(deps, job, modeOf(job), straggler)) {
      for (const item of page) {
        counter.add(item);
        await writer.write(item.output ?? (await outputOf(deps, item)));
      }
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  const results = await writer.close();

  const counts = counter.counts();
  const status = decideStatus(job, counts, mapError !== undefined);
  const final: FinalJobState = {
    status,
    counts,
    usage: counter.usage,
    results,
    estimatedCostUsd: roundCost(counter.costUsd),
    attempts: counter.attempts(),
    ...(mapError
      ? { error: mapError }
      : status === 'FAILED'
        ? { error: { name: 'AllItemsFailed', message: `all ${counts.total} item(s) failed` } }
        : {}),
  };
  await deps.store.finishJob(job.jobId, final);
  await deps.store.appendLog(job.jobId, status === 'FAILED' ? 'ERROR' : 'INFO', `job ended ${status}`, {
    counts,
    usage: counter.usage,
  });
  return { jobId: job.jobId, ...final };
}

/**
 * CANCELLED if the user cancelled; FAILED if the map failed or no item succeeded;
 * COMPLETED if every item succeeded; COMPLETED_WITH_ERRORS otherwise.
 */
export function decideStatus(
  job: Pick<JobRecord, 'cancelRequested'>,
  counts: JobCounts,
  mapFailed: boolean,
): JobStatus {
  if (job.cancelRequested) return 'CANCELLED';
  if (mapFailed) return 'FAILED';
  if (counts.total > 0 && counts.succeeded === 0) return 'FAILED';
  if (counts.succeeded === counts.total) return 'COMPLETED';
  return 'COMPLETED_WITH_ERRORS';
}

async function outputOf(deps: TaskDeps, item: SweptItem): Promise<OutputLine> {
  if (item.outputKey) return deps.objects.getItemOutput(item.outputKey);
  return errorOutputLine(
    item.customId,
    item.error ?? { code: 'no_output', message: 'the item has no recorded output' },
    item.providerId,
  );
}

function summaryOf(job: JobRecord): JobSummary {
  return {
    jobId: job.jobId,
    status: job.status,
    counts: job.counts,
    usage: job.usage,
    ...(job.estimatedCostUsd !== undefined ? { estimatedCostUsd: job.estimatedCostUsd } : {}),
    ...(job.results ? { results: job.results } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

function roundCost(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

class StatusCounter {
  private readonly byStatus = { SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 };
  private submitted = 0;
  readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  costUsd = 0;
  private items = 0;
  private attemptsSum = 0;
  private attemptsMax = 0;

  add(
    item: Pick<ItemRecord, 'status'> & Partial<Pick<ItemRecord, 'usage' | 'costUsd' | 'providerId' | 'attempts'>>,
  ): void {
    // An item that never reached the provider (no record, or cancelled first) made no attempt.
    const attempts = item.attempts ?? 0;
    this.items++;
    this.attemptsSum += attempts;
    this.attemptsMax = Math.max(this.attemptsMax, attempts);
    if (item.status === 'SUCCEEDED' || item.status === 'FAILED' || item.status === 'CANCELLED')
      this.byStatus[item.status]++;
    if (item.providerId) this.submitted++;
    if (item.usage) {
      this.usage.inputTokens += item.usage.inputTokens;
      this.usage.outputTokens += item.usage.outputTokens;
    }
    this.costUsd += item.costUsd ?? 0;
  }

  /** Mean (to 3 decimals) and max of the items' attempts. */
  attempts(): AttemptStats {
    const mean = this.items > 0 ? Math.round((this.attemptsSum / this.items) * 1000) / 1000 : 0;
    return { mean, max: this.attemptsMax };
  }

  counts(): JobCounts {
    const { SUCCEEDED, FAILED, CANCELLED } = this.byStatus;
    return {
      total: SUCCEEDED + FAILED + CANCELLED,
      submitted: this.submitted,
      succeeded: SUCCEEDED,
      failed: FAILED,
      cancelled: CANCELLED,
    };
  }
}
