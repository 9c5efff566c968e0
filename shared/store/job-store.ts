import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ItemRecord, ItemStatus, JobRecord, JobStatus, LogEntry, ProviderErrorBody } from '../types.js';
import { BatchLease, type BatchClaim } from './batch-lease.js';
import { BatchRecords, type BatchRecord } from './batch-records.js';
import { ItemLease } from './item-lease.js';
import { ItemReopening } from './item-reopening.js';
import { ItemShards } from './item-shards.js';
import { ItemRecords, type FinishItem, type ItemPlacement } from './item-records.js';
import type { JobProgress } from './job-progress.js';
import { JobRecords, type FinalJobState, type LiveJobState } from './job-records.js';
import { LeaseUnavailableError } from './lease.js';
import { LogRecords } from './log-records.js';
import { StoreTable, type Page } from './store-table.js';

export type { BatchRecord } from './batch-records.js';
export { STATUS_FIELDS, type FinishItem, type ItemPlacement } from './item-records.js';
export type { FinalJobState, LiveJobState } from './job-records.js';
export { decodeCursor, type Page } from './store-table.js';

/**
 * Job, item, batch and log records in one DynamoDB table, one module per record kind (also
 * reachable as fields). Counters use single-item conditional updates and ADD, never
 * transactions: an item's status changes only from a non-terminal one, and only the update that
 * made that change adds to the job's counters, so each item is counted once.
 */
export class JobStore {
  readonly jobs: JobRecords;
  readonly items: ItemRecords;
  readonly itemLease: ItemLease;
  readonly batches: BatchRecords;
  readonly batchLease: BatchLease;
  readonly logs: LogRecords;
  /** The table itself, for the records kept beside the jobs' (the batch queue budget). */
  readonly table: StoreTable;
  /** Items a job-level failure ended, reopened for a redrive. */
  readonly reopening: ItemReopening;

  constructor(
    dynamo: DynamoDBDocumentClient,
    tableName: string,
    recordTtlDays: number,
    clock: () => Date = () => new Date(),
  ) {
    const table = new StoreTable(dynamo, tableName, recordTtlDays, clock);
    this.table = table;
    this.jobs = new JobRecords(table);
    const shards = new ItemShards(dynamo, tableName);
    this.items = new ItemRecords(table, this.jobs, shards);
    this.itemLease = new ItemLease(table, this.jobs, shards);
    this.batches = new BatchRecords(table);
    this.batchLease = new BatchLease(table);
    this.logs = new LogRecords(table);
    this.reopening = new ItemReopening(table, shards);
  }

  // ---------------------------------------------------------------- jobs (job-records.ts)

  createJob(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    return this.jobs.create(job);
  }

  getJob(jobId: string): Promise<JobRecord | undefined> {
    return this.jobs.get(jobId);
  }

  /** What changes on the job while it runs (a projection read); its params too when asked. */
  getLiveJob(
    jobId: string,
    options: { params?: boolean } = {},
  ): Promise<(LiveJobState & { params?: Record<string, unknown> }) | undefined> {
    return this.jobs.getLive(jobId, options);
  }

  markJobRunning(
    jobId: string,
    executionArn: string | undefined,
  ): Promise<{ job: JobRecord | undefined; owned: boolean }> {
    return this.jobs.markRunning(jobId, executionArn);
  }

  finishJob(jobId: string, final: FinalJobState): Promise<boolean> {
    return this.jobs.finish(jobId, final);
  }

  failJob(jobId: string, error: { name: string; message: string }): Promise<boolean> {
    return this.jobs.fail(jobId, error);
  }

  requestCancel(jobId: string): Promise<JobRecord | undefined> {
    return this.jobs.requestCancel(jobId);
  }

  addProgress(jobId: string, progress: JobProgress): Promise<void> {
    return this.jobs.addProgress(jobId, progress);
  }

  listJobs(options: { status?: JobStatus; limit?: number; cursor?: string } = {}): Promise<Page<JobRecord>> {
    return this.jobs.list(options);
  }

  setExecutionArn(jobId: string, executionArn: string): Promise<void> {
    return this.jobs.setExecutionArn(jobId, executionArn);
  }

  // ---------------------------------------------------------------- items (item-records.ts, item-lease.ts)

  getItem(jobId: string, customId: string): Promise<ItemRecord | undefined> {
    return this.items.get(jobId, customId);
  }

  getItems(jobId: string, customIds: readonly string[]): Promise<Map<string, ItemRecord>>;
  getItems<K extends keyof ItemRecord>(
    jobId: string,
    customIds: readonly string[],
    fields: readonly K[],
  ): Promise<Map<string, Pick<ItemRecord, K | 'customId'>>>;
  getItems(
    jobId: string,
    customIds: readonly string[],
    fields?: readonly (keyof ItemRecord)[],
  ): Promise<Map<string, Partial<ItemRecord>>> {
    return fields ? this.items.getMany(jobId, customIds, fields) : this.items.getMany(jobId, customIds);
  }

  /** The lease, 'done' if the item is past QUEUED (or has no record), or 'busy' if another invocation holds it. */
  async claimItem(
    jobId: string,
    customId: string,
    leaseMs: number,
    create?: ItemPlacement,
  ): Promise<number | 'done' | 'busy'> {
    try {
      return await this.itemLease.claim(jobId, customId, leaseMs, create);
    } catch (error) {
      if (!(error instanceof LeaseUnavailableError)) throw error;
      return (error as LeaseUnavailableError<ItemRecord>).record?.status === 'QUEUED' ? 'busy' : 'done';
    }
  }

  releaseItem(jobId: string, customId: string, lease: number): Promise<void> {
    return this.itemLease.release(jobId, customId, lease);
  }

  markItemSubmitted(
    jobId: string,
    customId: string,
    providerId: string,
    options: { lease?: number; create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    return this.itemLease.markSubmitted(jobId, customId, providerId, options);
  }

  requeueItem(
    jobId: string,
    customId: string,
    requeue: { providerId: string; error: ProviderErrorBody; refund?: boolean },
    progress?: JobProgress,
  ): Promise<boolean> {
    return this.items.requeue(jobId, customId, requeue, progress);
  }

  finishItem(
    jobId: string,
    customId: string,
    finish: FinishItem,
    options: { create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    return this.items.finish(jobId, customId, finish, options);
  }

  listItems(
    jobId: string,
    options: { status?: ItemStatus; limit?: number; cursor?: string } = {},
  ): Promise<Page<ItemRecord>> {
    return this.items.list(jobId, options);
  }

  allItems(jobId: string): AsyncGenerator<ItemRecord[]> {
    return this.items.all(jobId);
  }

  // ---------------------------------------------------------------- batches (batch-records.ts, batch-lease.ts)

  getBatch(jobId: string, batchId: string): Promise<BatchRecord | undefined> {
    return this.batches.get(jobId, batchId);
  }

  /** The lease and whether it took over an expired one, or undefined if the batch is submitted or held. */
  async claimBatch(
    batch: BatchClaim,
    leaseMs: number,
  ): Promise<{ lease: number; takeover: boolean; round: number } | undefined> {
    try {
      return await this.batchLease.claim(batch, leaseMs);
    } catch (error) {
      if (error instanceof LeaseUnavailableError) return undefined;
      throw error;
    }
  }

  recordProviderBatch(
    jobId: string,
    batchId: string,
    providerBatchId: string,
    lease: number,
    queueModel?: string,
  ): Promise<boolean> {
    return this.batchLease.recordProviderBatch(jobId, batchId, providerBatchId, lease, queueModel);
  }

  releaseBatch(jobId: string, batchId: string, lease: number): Promise<void> {
    return this.batchLease.release(jobId, batchId, lease);
  }

  markBatchCancelSent(jobId: string, batchId: string): Promise<void> {
    return this.batches.markCancelSent(jobId, batchId);
  }

  reopenBatch(jobId: string, batchId: string, providerBatchId: string): Promise<boolean> {
    return this.batches.reopen(jobId, batchId, providerBatchId);
  }

  // ---------------------------------------------------------------- logs (log-records.ts)

  appendLog(jobId: string, level: LogEntry['level'], message: string, data?: Record<string, unknown>): Promise<void> {
    return this.logs.append(jobId, level, message, data);
  }

  listLogs(jobId: string, options: { limit?: number; cursor?: string } = {}): Promise<Page<LogEntry>> {
    return this.logs.list(jobId, options);
  }
}
