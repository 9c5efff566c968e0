import { createHash } from 'node:crypto';
import pMap from 'p-map';
import type { TaskDeps } from './deps.js';
import { errorMessage, ValidationError } from './errors.js';
import { classifyOutputLine, outOfAttempts, type FailureKind } from './item-failures.js';
import { MAX_INLINE_OUTPUT_BYTES } from './limits.js';
import { estimateCostUsd } from './pricing.js';
import type { CompiledJobType } from './job-types/job-type.js';
import type { RequestResult } from './provider/provider.js';
import type { JobProgress } from './store/job-progress.js';
import type { FinishItem } from './store/job-store.js';
import type { ItemRecord, JobRecord, OutputLine, ProviderErrorBody, TerminalItemStatus } from './types.js';

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

/** Whether an item that failed may be sent again: the job's attempt bound, and time left before the deadline. */
export interface ResendPolicy {
  maxAttempts: number;
  /** False past the batch's deadline or when the job is being cancelled: failures are final. */
  canResend: boolean;
}

/** What a poll knows of an item it settles. */
export type SettledItem = Pick<ItemRecord, 'customId'> & Partial<Pick<ItemRecord, 'providerId' | 'attempts'>>;

/** How settling an item went: ended (counted), queued to be sent again, or neither (someone else got there). */
export type Settled = 'ended' | 'requeued' | 'unchanged';

/**
 * Ends an item with the provider's answer, or queues it to be sent again: a failure the provider
 * may not repeat (transient, see item-failures.ts) with attempts left goes back to QUEUED; a
 * refused batch's item goes back without spending an attempt. Everything else ends the item as
 * finishWithResult does; a transient failure out of attempts says how many it had.
 */
export async function settleResult(
  deps: TaskDeps,
  job: ResultJob,
  item: SettledItem,
  result: RequestResult,
  booking: Booking & { resend: ResendPolicy },
): Promise<Settled> {
  if (result.outcome !== 'failed')
    return (await finishWithResult(deps, job, item.customId, result, booking)) ? 'ended' : 'unchanged';
  const error = result.output.error ?? { code: 'request_failed', message: 'the request failed' };
  return settleFailure(
    deps,
    job.jobId,
    item,
    {
      error,
      kind: classifyOutputLine(result.output),
      output: result.output,
      ...(result.usage && { usage: result.usage }),
    },
    booking,
  );
}

/** A failed request as the provider reported it: an error line, a failed response, a line left unfinished. */
export interface ItemFailure {
  error: ProviderErrorBody;
  kind: FailureKind;
  output?: OutputLine;
  usage?: RequestResult['usage'];
}

/** Requeues the item when its failure allows it (see settleResult), else ends it FAILED with the error. */
export async function settleFailure(
  deps: TaskDeps,
  jobId: string,
  item: SettledItem,
  failure: ItemFailure,
  booking: Pick<Booking, 'progress'> & { resend: ResendPolicy },
): Promise<Settled> {
  const { resend, progress } = booking;
  const attempts = item.attempts ?? 1;
  const again =
    resend.canResend &&
    item.providerId !== undefined &&
    (failure.kind === 'refused' || (failure.kind === 'transient' && attempts < resend.maxAttempts));
  if (again) {
    const requeue = { providerId: item.providerId as string, error: failure.error, refund: failure.kind === 'refused' };
    return (await deps.store.requeueItem(jobId, item.customId, requeue, progress)) ? 'requeued' : 'unchanged';
  }
  const error = failure.kind === 'permanent' ? failure.error : outOfAttempts(failure.error, attempts);
  const output = { ...(failure.output ?? errorOutputLine(item.customId, error, item.providerId)), error };
  const finish: FinishItem = { status: 'FAILED', error, output, ...(failure.usage && { usage: failure.usage }) };
  const ended = await deps.store.finishItem(jobId, item.customId, finish, progress ? { progress } : {});
  return ended ? 'ended' : 'unchanged';
}
