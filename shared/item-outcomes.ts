import { createHash } from 'node:crypto';
import pMap from 'p-map';
import type { TaskDeps } from './deps.js';
import { errorMessage, ValidationError } from './errors.js';
import { MAX_INLINE_OUTPUT_BYTES } from './limits.js';
import { estimateCostUsd } from './pricing.js';
import type { CompiledJobType } from './job-types/job-type.js';
import type { RequestResult } from './provider/provider.js';
import type { JobProgress } from './store/job-progress.js';
import type { FinishItem } from './store/job-store.js';
import type { JobRecord, OutputLine, ProviderErrorBody, TerminalItemStatus } from './types.js';

/** The batch id of an item whose batch never ran (it ends without ever being submitted). */
export const NEVER_BATCHED = 'never-batched';

/** Writes to DynamoDB in parallel, but not so many that one task throttles the table. */
export const STORE_CONCURRENCY = 16;

/** An output line for an item the provider never answered. */
export function errorOutputLine(customId: string, error: ProviderErrorBody, providerId?: string): OutputLine {
  const id = providerId ?? `llmb_${createHash('sha256').update(customId).digest('hex').slice(0, 24)}`;
  return { id, custom_id: customId, response: null, error };
}

const STATUS_OF: Record<RequestResult['outcome'], TerminalItemStatus> = {
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
};

function modelOf(output: OutputLine, job: ResultJob): string | undefined {
  const body = output.response?.body as { model?: unknown } | undefined;
  return typeof body?.model === 'string' ? body.model : job.options.model;
}

/** What finishing an item reads of its job. */
type ResultJob = Pick<JobRecord, 'jobId' | 'jobType' | 'options'> & { compiled: CompiledJobType };

/** How a result is booked: the mode's share of the list price, and where the change is counted. */
export interface Booking {
  /** The share of the list price the provider bills in the job's mode (ProviderModeStrategy.priceFactor). */
  priceFactor: number;
  /** Counted here when given (the task writes it once), else on the job. */
  progress?: JobProgress;
}

/**
 * Ends one item with the provider's result: the job type derives its result and may apply it
 * elsewhere; a result it rejects, or an apply that fails, fails the item with the reason.
 */
export async function finishWithResult(
  deps: TaskDeps,
  job: ResultJob,
  customId: string,
  result: RequestResult,
  booking: Booking,
): Promise<boolean> {
  const { progress } = booking;
  let finish: FinishItem = {
    status: STATUS_OF[result.outcome],
    output: result.output,
    ...(result.output.error ? { error: result.output.error } : {}),
    ...(result.usage ? { usage: result.usage } : {}),
  };
  const cost = estimateCostUsd(modelOf(result.output, job), result.usage, booking.priceFactor);
  if (cost !== undefined) finish.costUsd = cost;

  if (result.outcome === 'succeeded') {
    const jobType = deps.jobTypes.get(job.jobType);
    try {
      const derived = job.compiled.toResult?.(result.output);
      if (derived !== undefined) finish.result = derived;
      if (jobType.apply) {
        await jobType.apply(
          { options: job.options, dynamo: deps.dynamo, clock: deps.clock },
          { jobId: job.jobId, customId, result: derived, output: result.output },
        );
      }
    } catch (error) {
      const code = error instanceof ValidationError ? 'invalid_result' : 'apply_failed';
      finish = { ...finish, status: 'FAILED', error: { code, message: errorMessage(error) } };
      delete finish.result;
    }
  }
  return deps.store.finishItem(
    job.jobId,
    customId,
    await offloadLargeOutput(deps, job.jobId, customId, finish),
    progress ? { progress } : {},
  );
}

/** Keeps DynamoDB items under 400 KB: a large output is stored in S3 and referenced. */
async function offloadLargeOutput(
  deps: TaskDeps,
  jobId: string,
  customId: string,
  finish: FinishItem,
): Promise<FinishItem> {
  if (!finish.output) return finish;
  const size =
    Buffer.byteLength(JSON.stringify(finish.output)) + Buffer.byteLength(JSON.stringify(finish.result ?? null));
  if (size <= MAX_INLINE_OUTPUT_BYTES) return finish;
  const outputKey = await deps.objects.putItemOutput(jobId, customId, finish.output);
  const { output: _output, ...rest } = finish;
  return { ...rest, outputKey };
}

/** Ends items without a provider result (a failed batch task, a cancelled job, a workflow that stopped). */
export async function endItemsWithError(
  deps: TaskDeps,
  jobId: string,
  items: readonly { customId: string; providerId?: string; index?: number; batchId?: string }[],
  status: 'FAILED' | 'CANCELLED',
  error: ProviderErrorBody,
  progress?: JobProgress,
): Promise<number> {
  const ended = await pMap(
    items,
    (item) =>
      deps.store.finishItem(
        jobId,
        item.customId,
        { status, error, output: errorOutputLine(item.customId, error, item.providerId) },
        {
          ...(item.index !== undefined &&
            item.batchId !== undefined && { create: { index: item.index, batchId: item.batchId } }),
          ...(progress && { progress }),
        },
      ),
    { concurrency: STORE_CONCURRENCY },
  );
  return ended.filter(Boolean).length;
}
