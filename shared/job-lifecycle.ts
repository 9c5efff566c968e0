import type { TaskDeps } from './deps.js';
import { JobNotFoundError, errorMessage } from './errors.js';
import { endItemsWithError, errorOutputLine, NEVER_BATCHED } from './item-outcomes.js';
import type { CompiledJobType } from './job-types/job-type.js';
import type { JobLabels } from './metrics/job-metrics.js';
import type { ProviderModeStrategy } from './modes/provider-mode.js';
import { JobProgress } from './store/job-progress.js';
import type { BatchRecord, LiveJobState } from './store/job-store.js';
import {
  TERMINAL_JOB_STATUSES,
  type ItemRecord,
  type ItemStatus,
  type JobRecord,
  type JobStatus,
  type ProviderErrorBody,
} from './types.js';
import type { BatchInput } from './workflow-state.js';

/**
 * The job's life as the tasks see it: loading the job, adding a task's progress to it, what
 * counts as unfinished, and the one way unfinished items are ended (their work withdrawn from
 * the provider first), whether one batch stops or the whole job does.
 */

export const CANCELLED_BY_USER: ProviderErrorBody = {
  code: 'job_cancelled',
  message: 'the job was cancelled before this item finished',
};

const UNFINISHED_ITEM: ReadonlySet<ItemStatus> = new Set(['QUEUED', 'SUBMITTED']);

/** An item not ended yet: QUEUED or SUBMITTED, or with no record at all (its batch never wrote one). */
export function isUnfinished(status: ItemStatus | undefined): boolean {
  return status === undefined || UNFINISHED_ITEM.has(status);
}

/** Items with no record yet or still QUEUED: what a submit has to send. */
export function notYetSubmitted<T extends { customId: string }>(
  items: readonly T[],
  records: ReadonlyMap<string, { status?: ItemStatus }>,
): T[] {
  return items.filter((item) => {
    const status = records.get(item.customId)?.status;
    return status === undefined || status === 'QUEUED';
  });
}

export function isTerminalJob(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}

export async function loadJob(deps: TaskDeps, jobId: string): Promise<JobRecord> {
  const job = await deps.store.getJob(jobId);
  if (!job) throw new JobNotFoundError(jobId);
  return job;
}

/**
 * The most the job's batch context may weigh in the state. A child's input is its items (at most
 * MAX_BATCH_INPUT_BYTES, 250,000) plus this context, under the 262,144-byte state limit: 4 KiB
 * leaves about 8 KiB for the child's own fields (batch state, booked turns). Options are a few
 * hundred bytes; only large params (a long label list or prompt template) pass it, and then cost
 * nothing more than a larger projection read.
 */
export const MAX_BATCH_CONTEXT_BYTES = 4 * 1024;

/** The job's fixed context for its batches: its params left in the record when they would make it too large. */
export function batchInputOf(job: Pick<JobRecord, 'jobId' | 'jobType' | 'options'>): BatchInput {
  const context: BatchInput = { jobId: job.jobId, jobType: job.jobType, options: job.options, paramsInRecord: false };
  if (Buffer.byteLength(JSON.stringify(context)) <= MAX_BATCH_CONTEXT_BYTES) return context;
  return { ...context, options: { ...job.options, params: {} }, paramsInRecord: true };
}

/** The job as a batch task sees it: its fixed context from the state and what changes, read now. */
export type RunningJob = Pick<JobRecord, 'jobId' | 'jobType' | 'options'> &
  LiveJobState & {
    /** The job type compiled for the job's options, once for the invocation's whole batch. */
    compiled: CompiledJobType;
  };

/** Reads only what changes while the job runs (one projection read) onto the context the state carries. */
export async function loadRunningJob(deps: TaskDeps, context: BatchInput): Promise<RunningJob> {
  const live = await deps.store.getLiveJob(context.jobId, { params: context.paramsInRecord });
  if (!live) throw new JobNotFoundError(context.jobId);
  const { params, ...changing } = live;
  const options = context.paramsInRecord ? { ...context.options, params: params ?? {} } : context.options;
  const compiled = deps.jobTypes.get(context.jobType).compile(options);
  return { jobId: context.jobId, jobType: context.jobType, options, ...changing, compiled };
}

/**
 * One ADD on the job for the whole invocation, even when it fails (what it did stays done), and
 * the same progress as one metrics record of the job's type and mode. A failure to count never
 * fails the task: a retry would not count those items again, and the reducer's final counts come
 * from the items.
 */
export async function recordProgress(
  deps: TaskDeps,
  job: Pick<JobRecord, 'jobId'> & JobLabels,
  progress: JobProgress,
): Promise<void> {
  const { jobId } = job;
  try {
    deps.metrics?.emit(job, progress);
  } catch (error) {
    deps.logger.warn("could not emit the task's metrics", { jobId, error: errorMessage(error) });
  }
  try {
    await deps.store.addProgress(jobId, progress);
  } catch (error) {
    deps.logger.warn("could not add the task's progress to the job counters", { jobId, error: errorMessage(error) });
  }
}

/** How unfinished items end, and why. */
export interface Ending {
  status: 'FAILED' | 'CANCELLED';
  reason: ProviderErrorBody;
}

/** An item to end: its record's fields, or only its place in the manifest when it has no record. */
export interface EndableItem {
  customId: string;
  status?: ItemStatus | undefined;
  providerId?: string | undefined;
  index?: number;
  batchId?: string;
}

export interface EndOptions {
  /** The items' batch record, when known (batch mode withdraws its provider batch). */
  batch?: BatchRecord | undefined;
  /** The items' batch, when its record was not read (batch mode reads it to withdraw). */
  batchId?: string;
  /** Provider ids withdrawn already in this sweep. */
  withdrawn?: Set<string>;
  /** Counted here when given (the task writes it once), else on the job. */
  progress?: JobProgress;
}

/**
 * THE way items end without a provider result: of the given items, those still unfinished have
 * their work withdrawn from the provider (best effort: the provider may be what is failing, and
 * ending the items matters more) and are ended with the reason. Returns how many this call ended.
 */
export async function endUnfinishedItems(
  deps: TaskDeps,
  job: Pick<JobRecord, 'jobId'> & JobLabels,
  mode: ProviderModeStrategy,
  items: readonly EndableItem[],
  ending: Ending,
  options: EndOptions = {},
): Promise<number> {
  const unfinished = items.filter((item) => isUnfinished(item.status));
  if (unfinished.length === 0) return 0;
  const progress = options.progress ?? new JobProgress();
  try {
    try {
      await mode.withdraw({
        deps,
        jobId: job.jobId,
        items: unfinished,
        batch: options.batch,
        batchId: options.batchId,
        done: options.withdrawn ?? new Set(),
      });
    } catch (error) {
      deps.logger.warn('could not withdraw work from the provider', { jobId: job.jobId, error: errorMessage(error) });
    }
    return await endItemsWithError(deps, job.jobId, unfinished, ending.status, ending.reason, progress);
  } finally {
    // The caller keeps no progress: what this call ended is one write and one metrics record.
    if (!options.progress) await recordProgress(deps, job, progress);
  }
}

/** An item as a job sweep hands it on: its record after the sweep, or (no record) its manifest line's ending. */
export type SweptItem = Pick<ItemRecord, 'customId' | 'status'> & Partial<ItemRecord>;

/** Manifest lines ended at once when their batch never ran. */
const MANIFEST_CHUNK = 100;

/**
 * Ends every unfinished item of a job and yields every item of the job, page by page, as it
 * stands afterwards: recorded items (an item that finished meanwhile keeps its real outcome),
 * then the manifest lines that never got a record (the manifest is the list of what was asked).
 */
export async function* endUnfinishedJob(
  deps: TaskDeps,
  job: JobRecord,
  mode: ProviderModeStrategy,
  ending: Ending,
): AsyncGenerator<SweptItem[]> {
  const seen = new SeenLines();
  const withdrawn = new Set<string>();
  for await (const page of deps.store.allItems(job.jobId)) {
    for (const item of page) seen.add(item);
    const unfinished = page.filter((item) => isUnfinished(item.status));
    await endUnfinishedItems(deps, job, mode, unfinished, ending, { withdrawn });
    // Read back: if an item finished concurrently, its real outcome wins.
    const current =
      unfinished.length > 0
        ? await deps.store.getItems(
            job.jobId,
            unfinished.map((item) => item.customId),
          )
        : new Map<string, ItemRecord>();
    yield page.map((item) => current.get(item.customId) ?? item);
  }
  let neverRan: SweptItem[] = [];
  const endNeverRan = async (): Promise<SweptItem[]> => {
    const lines = neverRan;
    neverRan = [];
    const progress = new JobProgress();
    try {
      await endItemsWithError(
        deps,
        job.jobId,
        lines.map((line) => ({ ...line, batchId: NEVER_BATCHED })),
        ending.status,
        ending.reason,
        progress,
      );
    } finally {
      await recordProgress(deps, job, progress);
    }
    return lines;
  };
  for await (const line of deps.objects.readManifest(job.manifest)) {
    if (seen.has(line)) continue;
    neverRan.push({
      customId: line.customId,
      index: line.index,
      status: ending.status,
      error: ending.reason,
      output: errorOutputLine(line.customId, ending.reason),
    });
    if (neverRan.length >= MANIFEST_CHUNK) yield await endNeverRan();
  }
  if (neverRan.length > 0) yield await endNeverRan();
}

/**
 * The manifest lines that have an item record, by line index: a bit each (125 KB for 1,000,000
 * lines, where a set of custom ids would take tens of MB). A record without an index (none is
 * written so) is kept by custom id.
 */
class SeenLines {
  private bits = new Uint8Array(1024);
  private readonly byId = new Set<string>();

  add(item: { customId: string; index?: number }): void {
    const { index } = item;
    if (index === undefined || !Number.isInteger(index) || index < 0) {
      this.byId.add(item.customId);
      return;
    }
    if (index >> 3 >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, (index >> 3) + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[index >> 3] = (this.bits[index >> 3] ?? 0) | (1 << (index & 7));
  }

  has(line: { customId: string; index: number }): boolean {
    return ((this.bits[line.index >> 3] ?? 0) & (1 << (line.index & 7))) !== 0 || this.byId.has(line.customId);
  }
}

/** Ends every unfinished item of a job (endUnfinishedJob, with nothing to read on the way). */
export async function endAllUnfinished(
  deps: TaskDeps,
  job: JobRecord,
  mode: ProviderModeStrategy,
  ending: Ending,
): Promise<void> {
  for await (const _page of endUnfinishedJob(deps, job, mode, ending)) {
    // each page's items are ended by the time it is yielded
  }
}

/** A failed job's ending for its unfinished items. */
export function jobFailedEnding(error: { name: string; message: string }): Ending {
  return {
    status: 'FAILED',
    reason: { code: 'workflow_failed', message: `the job's workflow failed: ${error.name}: ${error.message}` },
  };
}

/** Identifies a child batch by its first manifest line. */
export function batchIdOf(items: readonly { index: number }[]): string {
  const first = items[0];
  if (!first) throw new Error('a batch needs at least one item');
  return `batch-${String(first.index).padStart(7, '0')}`;
}
