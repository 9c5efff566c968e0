import type { TaskDeps } from '../shared/deps.js';
import { describeCaught, type CaughtError } from '../shared/execution-input.js';
import { endItemsWithError, errorOutputLine, NEVER_BATCHED } from '../shared/item-outcomes.js';
import { withdrawFromProvider } from '../shared/withdraw.js';
import type { FinalJobState } from '../shared/store/job-store.js';
import type { ItemRecord, JobCounts, JobRecord, JobStatus, OutputLine, ProviderErrorBody, S3Location, TokenUsage } from '../shared/types.js';
import { CANCELLED_BY_USER, loadJob } from './submit-batch.js';
import type { JobContext } from './prepare-job.js';

export interface FinalizeJobInput {
  job: JobContext;
  /** Set when the Distributed Map itself failed (Catch on the map). */
  mapError?: CaughtError;
}

export interface JobSummary {
  jobId: string;
  status: JobStatus;
  results?: S3Location;
  counts: JobCounts;
  usage: TokenUsage;
  estimatedCostUsd?: number;
  error?: { name: string; message: string };
}

/**
 * The reducer. Reads every item once: ends any still unfinished (the map failed or was cut
 * short), writes the results file in the OpenAI Batch output format (one line per manifest item,
 * same custom_id), counts the terminal states from the items themselves (so each is counted
 * exactly once, whatever the live counters say), and sets the job's terminal status.
 */
export async function finalizeJob(input: FinalizeJobInput, deps: TaskDeps): Promise<JobSummary> {
  const job = await loadJob(deps, input.job.jobId);
  if (isTerminal(job.status)) return summaryOf(job);

  const mapError = input.mapError ? describeCaught(input.mapError) : undefined;
  const straggler: { status: 'FAILED' | 'CANCELLED'; error: ProviderErrorBody } = job.cancelRequested
    ? { status: 'CANCELLED', error: CANCELLED_BY_USER }
    : {
        status: 'FAILED',
        error: mapError
          ? { code: 'workflow_failed', message: `the job's workflow failed before this item finished: ${mapError.name}: ${mapError.message}` }
          : { code: 'not_finished', message: 'the workflow ended before this item finished' },
      };

  const counter = new StatusCounter();
  const seen = new Set<string>();
  const withdrawn = new Set<string>();
  const writer = deps.objects.openResultsWriter(job.jobId);
  try {
    for await (const page of deps.store.allItems(job.jobId)) {
      for (const item of page) {
        seen.add(item.customId);
        const ended = await endIfUnfinished(deps, job, item, straggler, withdrawn);
        counter.add(ended);
        await writer.write(ended.output ?? (await outputOf(deps, ended)));
      }
    }
    // Items whose batch never ran have no record: the manifest is the list of what was asked.
    for await (const line of deps.objects.readManifest(job.manifest)) {
      if (seen.has(line.customId)) continue;
      await endItemsWithError(deps, job.jobId, [{ customId: line.customId, index: line.index, batchId: NEVER_BATCHED }], straggler.status, straggler.error);
      counter.add({ status: straggler.status });
      await writer.write(errorOutputLine(line.customId, straggler.error));
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
    ...(mapError ? { error: mapError } : status === 'FAILED' ? { error: { name: 'AllItemsFailed', message: `all ${counts.total} item(s) failed` } } : {}),
  };
  await deps.store.finishJob(job.jobId, final);
  await deps.store.appendLog(job.jobId, status === 'FAILED' ? 'ERROR' : 'INFO', `job ended ${status}`, { counts, usage: counter.usage });
  return { jobId: job.jobId, ...final };
}

export function isTerminal(status: JobStatus): boolean {
  return status === 'COMPLETED' || status === 'COMPLETED_WITH_ERRORS' || status === 'FAILED' || status === 'CANCELLED';
}

/**
 * CANCELLED if the user cancelled; FAILED if the map failed or no item succeeded;
 * COMPLETED if every item succeeded; COMPLETED_WITH_ERRORS otherwise.
 */
export function decideStatus(job: Pick<JobRecord, 'cancelRequested'>, counts: JobCounts, mapFailed: boolean): JobStatus {
  if (job.cancelRequested) return 'CANCELLED';
  if (mapFailed) return 'FAILED';
  if (counts.total > 0 && counts.succeeded === 0) return 'FAILED';
  if (counts.succeeded === counts.total) return 'COMPLETED';
  return 'COMPLETED_WITH_ERRORS';
}

async function endIfUnfinished(
  deps: TaskDeps,
  job: JobRecord,
  item: ItemRecord,
  straggler: { status: 'FAILED' | 'CANCELLED'; error: ProviderErrorBody },
  withdrawn: Set<string>,
): Promise<ItemRecord> {
  if (item.status !== 'QUEUED' && item.status !== 'SUBMITTED') return item;
  await withdrawFromProvider(deps, job.jobId, job.options.mode, [item], withdrawn);
  await endItemsWithError(deps, job.jobId, [item], straggler.status, straggler.error);
  // Read back: if the item finished concurrently, its real outcome wins.
  return (await deps.store.getItem(job.jobId, item.customId)) ?? item;
}

async function outputOf(deps: TaskDeps, item: ItemRecord): Promise<OutputLine> {
  if (item.outputKey) return deps.objects.getItemOutput(item.outputKey);
  return errorOutputLine(item.customId, item.error ?? { code: 'no_output', message: 'the item has no recorded output' }, item.providerId);
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

  add(item: Pick<ItemRecord, 'status'> & Partial<Pick<ItemRecord, 'usage' | 'costUsd' | 'providerId'>>): void {
    if (item.status === 'SUCCEEDED' || item.status === 'FAILED' || item.status === 'CANCELLED') this.byStatus[item.status]++;
    if (item.providerId) this.submitted++;
    if (item.usage) {
      this.usage.inputTokens += item.usage.inputTokens;
      this.usage.outputTokens += item.usage.outputTokens;
    }
    this.costUsd += item.costUsd ?? 0;
  }

  counts(): JobCounts {
    const { SUCCEEDED, FAILED, CANCELLED } = this.byStatus;
    return { total: SUCCEEDED + FAILED + CANCELLED, submitted: this.submitted, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED };
  }
}
