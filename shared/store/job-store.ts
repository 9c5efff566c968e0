import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type {
  ItemRecord,
  ItemStatus,
  JobCounts,
  JobRecord,
  JobStatus,
  LogEntry,
  OutputLine,
  ProviderErrorBody,
  ProviderMode,
  S3Location,
  TerminalItemStatus,
  TokenUsage,
} from '../types.js';
import { JobProgress } from './job-progress.js';
import { keys } from './keys.js';

/** A child batch of the Distributed Map, as recorded by its submit task. */
export interface BatchRecord {
  jobId: string;
  batchId: string;
  mode: ProviderMode;
  customIds: string[];
  /** Batch mode: the provider's batch id once it exists. */
  providerBatchId?: string;
  /** Set while one task invocation owns the submission (epoch ms). */
  leaseUntil?: number;
  cancelSent?: boolean;
  createdAt: string;
}

export interface FinishItem {
  status: TerminalItemStatus;
  output?: OutputLine;
  /** Where the output lives when it was too large for the item record. */
  outputKey?: string;
  error?: ProviderErrorBody;
  usage?: TokenUsage;
  result?: unknown;
  /** The job-level estimated cost of this item, added to the job's running total. */
  costUsd?: number;
}

/** What the submit and poll tasks read of their items: enough to know what is left to do. */
export const STATUS_FIELDS = ['status', 'providerId'] as const satisfies readonly (keyof ItemRecord)[];

/** Where an item sits in its job: what a record created by an update is given. */
export interface ItemPlacement {
  index: number;
  batchId: string;
}

export interface FinalJobState {
  status: JobStatus;
  counts: JobCounts;
  usage: TokenUsage;
  estimatedCostUsd?: number;
  results?: S3Location;
  error?: { name: string; message: string };
}

export interface Page<T> {
  items: T[];
  cursor?: string;
}

const NON_TERMINAL_ITEM: ItemStatus[] = ['QUEUED', 'SUBMITTED'];
const TERMINAL_JOB: JobStatus[] = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'];

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

function stripKeys<T>(record: Record<string, unknown> | undefined): T | undefined {
  if (!record) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, ttl: _ttl, ...rest } = record;
  return rest as T;
}

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

export function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object') return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RangeError('cursor is not one this API returned');
}

/**
 * Job, item, batch and log records in one DynamoDB table. Counters use single-item conditional
 * updates and ADD, never transactions: an item's status changes only from a non-terminal one, and
 * only the update that made that change adds to the job's counters, so each item is counted once.
 */
export class JobStore {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlDays: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  private now(): string {
    return this.clock().toISOString();
  }

  private ttlFromNow(extraDays = 0): number {
    return Math.floor(this.clock().getTime() / 1000) + (this.ttlDays + extraDays) * 86_400;
  }

  // ---------------------------------------------------------------- jobs

  /** Writes the job unless it exists; returns the stored job and whether this call created it. */
  async createJob(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    try {
      await this.dynamo.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.job(job.jobId),
            gsi1pk: keys.jobsIndex.pk,
            gsi1sk: `${job.createdAt}#${job.jobId}`,
            ...job,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { job, created: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.getJob(job.jobId);
      if (!existing) throw error;
      return { job: existing, created: false };
    }
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: keys.job(jobId), ConsistentRead: true }),
    );
    return stripKeys<JobRecord>(Item);
  }

  /**
   * QUEUED -> RUNNING for the execution that owns the job (the first to claim it; a job already
   * running keeps its start time). Returns `owned: false`, changing nothing, when another
   * execution owns the job or the job has ended: a duplicated start then does no work.
   */
  async markJobRunning(jobId: string, executionArn: string | undefined): Promise<{ job: JobRecord | undefined; owned: boolean }> {
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.job(jobId),
          UpdateExpression:
            'SET #status = :running, startedAt = if_not_exists(startedAt, :now), updatedAt = :now' +
            (executionArn ? ', executionArn = :arn' : ''),
          ConditionExpression:
            'attribute_exists(pk) AND #status IN (:queued, :running)' +
            (executionArn ? ' AND (attribute_not_exists(executionArn) OR executionArn = :arn)' : ''),
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':queued': 'QUEUED',
            ':now': this.now(),
            ...(executionArn ? { ':arn': executionArn } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { job: stripKeys<JobRecord>(Attributes), owned: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { job: await this.getJob(jobId), owned: false };
    }
  }

  /** Sets the terminal state unless the job already has one. Returns false if it had. */
  async finishJob(jobId: string, final: FinalJobState): Promise<boolean> {
    // Only names the expression uses: DynamoDB rejects unused ExpressionAttributeNames.
    const names: Record<string, string> = { '#status': 'status', '#ttl': 'ttl' };
    const values: Record<string, unknown> = {
      ':status': final.status,
      ':counts': final.counts,
      ':usage': final.usage,
      ':now': this.now(),
      ':ttl': this.ttlFromNow(),
      ...Object.fromEntries(TERMINAL_JOB.map((s, i) => [`:t${i}`, s])),
    };
    const sets = [
      '#status = :status',
      'counts = :counts',
      '#usage = :usage',
      'completedAt = :now',
      'updatedAt = :now',
      '#ttl = :ttl',
    ];
    names['#usage'] = 'usage';
    if (final.estimatedCostUsd !== undefined) {
      sets.push('estimatedCostUsd = :cost');
      values[':cost'] = final.estimatedCostUsd;
    }
    if (final.results) {
      sets.push('results = :results');
      values[':results'] = final.results;
    }
    if (final.error) {
      sets.push('#error = :error');
      names['#error'] = 'error';
      values[':error'] = final.error;
    }
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.job(jobId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(pk) AND NOT #status IN (${TERMINAL_JOB.map((_, i) => `:t${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** FAILED with the error, keeping the live counters; a terminal job is left alone. */
  async failJob(jobId: string, error: { name: string; message: string }): Promise<boolean> {
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.job(jobId),
          UpdateExpression:
            'SET #status = :failed, #error = :error, completedAt = :now, updatedAt = :now, #ttl = :ttl',
          ConditionExpression: `attribute_exists(pk) AND NOT #status IN (${TERMINAL_JOB.map((_, i) => `:t${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':failed': 'FAILED',
            ':error': error,
            ':now': this.now(),
            ':ttl': this.ttlFromNow(),
            ...Object.fromEntries(TERMINAL_JOB.map((s, i) => [`:t${i}`, s])),
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Asks a job that has not ended to stop; the workflow's tasks see the flag and wind down.
   * Returns undefined if the job does not exist or has already ended.
   */
  async requestCancel(jobId: string): Promise<JobRecord | undefined> {
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.job(jobId),
          UpdateExpression: 'SET cancelRequested = :yes, updatedAt = :now',
          ConditionExpression: `attribute_exists(pk) AND NOT #status IN (${TERMINAL_JOB.map((_, i) => `:t${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':yes': true,
            ':now': this.now(),
            ...Object.fromEntries(TERMINAL_JOB.map((s, i) => [`:t${i}`, s])),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripKeys<JobRecord>(Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /**
   * Adds what one task invocation gathered (JobProgress: item counts, token usage, cost, provider
   * calls) to the job's live counters with one ADD, and sets the provider latency it saw. Writes
   * nothing when there is nothing to add.
   */
  async addProgress(jobId: string, progress: JobProgress): Promise<void> {
    if (progress.isEmpty()) return;
    const adds: string[] = [];
    const sets = ['updatedAt = :now'];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':now': this.now() };
    const add = (attribute: string, placeholder: string, by: number) => {
      if (by === 0) return;
      adds.push(`${attribute} :${placeholder}`);
      values[`:${placeholder}`] = by;
    };
    for (const [counter, by] of Object.entries(progress.counts)) add(`counts.${counter}`, counter, by);
    if (progress.usage.inputTokens || progress.usage.outputTokens) names['#usage'] = 'usage';
    add('#usage.inputTokens', 'in', progress.usage.inputTokens);
    add('#usage.outputTokens', 'out', progress.usage.outputTokens);
    add('estimatedCostUsd', 'cost', progress.costUsd);
    add('providerSubmitCalls', 'submitCalls', progress.calls.submit);
    add('providerPollCalls', 'pollCalls', progress.calls.poll);
    add('providerRateLimited', 'rateLimited', progress.calls.rateLimited);
    if (progress.latencySeconds !== undefined) {
      sets.push('latencyEstimateSeconds = :latency');
      values[':latency'] = progress.latencySeconds;
    }
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.job(jobId),
        UpdateExpression: `${adds.length > 0 ? `ADD ${adds.join(', ')} ` : ''}SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** Counts one item change on the job: into the caller's progress, else with an ADD of its own. */
  private async count(jobId: string, progress: JobProgress | undefined, change: (progress: JobProgress) => void): Promise<void> {
    if (progress) {
      change(progress);
      return;
    }
    const own = new JobProgress();
    change(own);
    await this.addProgress(jobId, own);
  }

  /** One page of jobs, newest first, optionally only those with a status. */
  async listJobs(options: { status?: JobStatus; limit?: number; cursor?: string } = {}): Promise<Page<JobRecord>> {
    const response = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: keys.jobsIndex.name,
        KeyConditionExpression: 'gsi1pk = :pk',
        ScanIndexForward: false,
        ...(options.status
          ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }
          : {}),
        ExpressionAttributeValues: { ':pk': keys.jobsIndex.pk, ...(options.status ? { ':status': options.status } : {}) },
        Limit: options.limit,
        ExclusiveStartKey: decodeCursor(options.cursor),
      }),
    );
    return {
      items: (response.Items ?? []).map((raw) => stripKeys<JobRecord>(raw) as JobRecord),
      cursor: encodeCursor(response.LastEvaluatedKey),
    };
  }

  /** Records the execution that runs the job (set by the API when it starts one). */
  async setExecutionArn(jobId: string, executionArn: string): Promise<void> {
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.job(jobId),
        UpdateExpression: 'SET executionArn = if_not_exists(executionArn, :arn), updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':arn': executionArn, ':now': this.now() },
      }),
    );
  }

  // ---------------------------------------------------------------- items

  async getItem(jobId: string, customId: string): Promise<ItemRecord | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: keys.item(jobId, customId), ConsistentRead: true }),
    );
    return stripKeys<ItemRecord>(Item);
  }

  /**
   * Reads items by custom id (BatchGet, 100 a call, unprocessed keys retried). With `fields`,
   * only those attributes are read back (a finished item's output is most of its size).
   */
  async getItems(jobId: string, customIds: readonly string[]): Promise<Map<string, ItemRecord>>;
  async getItems<K extends keyof ItemRecord>(jobId: string, customIds: readonly string[], fields: readonly K[]): Promise<Map<string, Pick<ItemRecord, K | 'customId'>>>;
  async getItems(jobId: string, customIds: readonly string[], fields?: readonly (keyof ItemRecord)[]): Promise<Map<string, Partial<ItemRecord>>> {
    const found = new Map<string, Partial<ItemRecord>>();
    const projection = fields && {
      ProjectionExpression: [...new Set(['customId', ...fields])].map((_, i) => `#f${i}`).join(', '),
      ExpressionAttributeNames: Object.fromEntries([...new Set(['customId', ...fields])].map((field, i) => [`#f${i}`, field])),
    };
    for (let start = 0; start < customIds.length; start += 100) {
      let pending: Record<string, unknown>[] | undefined = customIds
        .slice(start, start + 100)
        .map((id) => keys.item(jobId, id));
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        const response: BatchGetCommandOutput = await this.dynamo.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true, ...projection } },
          }),
        );
        for (const raw of response.Responses?.[this.tableName] ?? []) {
          const item = stripKeys<ItemRecord>(raw);
          if (item) found.set(item.customId, item);
        }
        pending = response.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  /** Creates the item QUEUED unless it exists. */
  async putQueuedItem(jobId: string, customId: string, index: number, batchId: string): Promise<void> {
    const now = this.now();
    const item: ItemRecord = { jobId, customId, index, batchId, status: 'QUEUED', attempts: 0, createdAt: now, updatedAt: now };
    try {
      await this.dynamo.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.item(jobId, customId), ...item },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Takes the right to submit a QUEUED item for `leaseMs`. Only the holder submits, so a task
   * retried by Step Functions (or run twice) never sends the same item twice; an expired lease
   * means the holder died and the item may be taken over. With `create`, an item with no record
   * yet is created QUEUED and claimed in the same write. Returns the lease, 'done' if the item is
   * past QUEUED, or 'busy' if another invocation holds a live lease on it.
   */
  async claimItem(jobId: string, customId: string, leaseMs: number, create?: ItemPlacement): Promise<number | 'done' | 'busy'> {
    const now = this.clock().getTime();
    const leaseUntil = now + leaseMs;
    const claimable = '#status = :queued AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)';
    const identity = create ? this.identityOf(jobId, customId, create) : undefined;
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.item(jobId, customId),
          UpdateExpression: `SET leaseUntil = :lease, updatedAt = :at${identity ? `, #status = :queued, ${identity.sets}` : ''} ADD attempts :one`,
          ConditionExpression: identity ? `attribute_not_exists(pk) OR (${claimable})` : claimable,
          ExpressionAttributeNames: { '#status': 'status', ...identity?.names },
          ExpressionAttributeValues: {
            ':lease': leaseUntil,
            ':queued': 'QUEUED',
            ':now': now,
            ':one': 1,
            ':at': this.now(),
            ...identity?.values,
          },
        }),
      );
      return leaseUntil;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = await this.getItem(jobId, customId);
      return item?.status === 'QUEUED' ? 'busy' : 'done';
    }
  }

  /** The attributes an item record is created with by an update (kept as they are when it exists). */
  private identityOf(jobId: string, customId: string, placement: ItemPlacement) {
    return {
      sets: 'jobId = :jobId, customId = :customId, #index = :index, batchId = if_not_exists(batchId, :batchId), createdAt = if_not_exists(createdAt, :at)',
      names: { '#index': 'index' },
      values: { ':jobId': jobId, ':customId': customId, ':index': placement.index, ':batchId': placement.batchId },
    };
  }

  /** Gives a claim back without submitting (the provider refused for now). */
  async releaseItem(jobId: string, customId: string, lease: number): Promise<void> {
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.item(jobId, customId),
          UpdateExpression: 'REMOVE leaseUntil SET updatedAt = :at',
          ConditionExpression: 'leaseUntil = :lease',
          ExpressionAttributeValues: { ':lease': lease, ':at': this.now() },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * QUEUED -> SUBMITTED with the provider id, only for the lease holder (or, with no lease, for
   * batch mode where the batch record is the claim). With `create` (batch mode), an item with no
   * record yet is created SUBMITTED. The change is counted into `progress` when given, else on the
   * job at once. Returns false if the item was not ours.
   */
  async markItemSubmitted(
    jobId: string,
    customId: string,
    providerId: string,
    options: { lease?: number; create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    const { lease, create, progress } = options;
    const identity = create ? this.identityOf(jobId, customId, create) : undefined;
    let condition = lease === undefined ? '#status = :queued' : '#status = :queued AND leaseUntil = :lease';
    if (identity) condition = `attribute_not_exists(pk) OR (${condition})`;
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.item(jobId, customId),
          UpdateExpression: `SET #status = :submitted, providerId = :pid, updatedAt = :at${identity ? `, ${identity.sets}, attempts = if_not_exists(attempts, :zero) + :one` : ''} REMOVE leaseUntil`,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#status': 'status', ...identity?.names },
          ExpressionAttributeValues: {
            ':submitted': 'SUBMITTED',
            ':queued': 'QUEUED',
            ':pid': providerId,
            ':at': this.now(),
            ...(lease === undefined ? {} : { ':lease': lease }),
            ...(identity ? { ...identity.values, ':zero': 0, ':one': 1 } : {}),
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    await this.count(jobId, progress, (p) => p.submitted());
    return true;
  }

  /**
   * Ends an item in a terminal state, once: the update is conditional on a non-terminal status,
   * and only the call whose update went through counts it: into `progress` when given, else on
   * the job at once. With `create`, makes the record if the item never had one (its batch never
   * ran). Returns false if it was already terminal.
   */
  async finishItem(
    jobId: string,
    customId: string,
    finish: FinishItem,
    options: { create?: ItemPlacement; progress?: JobProgress } = {},
  ): Promise<boolean> {
    const { create, progress } = options;
    const now = this.now();
    const names: Record<string, string> = { '#status': 'status', '#ttl': 'ttl' };
    const values: Record<string, unknown> = {
      ':status': finish.status,
      ':now': now,
      ':ttl': this.ttlFromNow(),
      ':queued': 'QUEUED',
      ':submitted': 'SUBMITTED',
    };
    const sets = ['#status = :status', 'finishedAt = :now', 'updatedAt = :now', '#ttl = :ttl'];
    const optional: [string, unknown][] = [
      ['#output', finish.output], // OUTPUT is a DynamoDB reserved word
      ['outputKey', finish.outputKey],
      ['#error', finish.error],
      ['#usage', finish.usage],
      ['#result', finish.result],
      ['costUsd', finish.costUsd],
    ];
    for (const [field, value] of optional) {
      if (value === undefined) continue;
      const placeholder = `:${field.replace('#', '')}`;
      if (field.startsWith('#')) names[field] = field.slice(1);
      sets.push(`${field} = ${placeholder}`);
      values[placeholder] = value;
    }
    let condition = '#status IN (:queued, :submitted)';
    if (create) {
      const identity = this.identityOf(jobId, customId, create);
      sets.push(identity.sets, 'attempts = if_not_exists(attempts, :zero)');
      Object.assign(names, identity.names);
      Object.assign(values, identity.values, { ':at': now, ':zero': 0 });
      condition = `attribute_not_exists(pk) OR ${condition}`;
    }
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.item(jobId, customId),
          UpdateExpression: `SET ${sets.join(', ')} REMOVE leaseUntil`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    await this.count(jobId, progress, (p) => p.ended(finish.status, finish.usage, finish.costUsd));
    return true;
  }

  /** One page of a job's items, in custom id order, optionally only those with a status. */
  async listItems(jobId: string, options: { status?: ItemStatus; limit?: number; cursor?: string } = {}): Promise<Page<ItemRecord>> {
    const response = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ...(options.status
          ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }
          : {}),
        ExpressionAttributeValues: {
          ':pk': keys.partition(jobId),
          ':prefix': keys.itemPrefix,
          ...(options.status ? { ':status': options.status } : {}),
        },
        Limit: options.limit,
        ExclusiveStartKey: decodeCursor(options.cursor),
        ConsistentRead: true,
      }),
    );
    return {
      items: (response.Items ?? []).map((raw) => stripKeys<ItemRecord>(raw) as ItemRecord),
      cursor: encodeCursor(response.LastEvaluatedKey),
    };
  }

  /** Every item of a job, page by page (for the reducer). */
  /** Every item of the job, a page at a time; the next page is read while the caller works on this one. */
  async *allItems(jobId: string): AsyncGenerator<ItemRecord[]> {
    let next: Promise<Page<ItemRecord>> | undefined = this.listItems(jobId);
    while (next) {
      const page: Page<ItemRecord> = await next;
      next = page.cursor ? this.listItems(jobId, { cursor: page.cursor }) : undefined;
      // A consumer that stops early leaves the read ahead unawaited: its failure is not one.
      next?.catch(() => undefined);
      yield page.items;
    }
  }

  // ---------------------------------------------------------------- batches

  async getBatch(jobId: string, batchId: string): Promise<BatchRecord | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: keys.batch(jobId, batchId), ConsistentRead: true }),
    );
    return stripKeys<BatchRecord>(Item);
  }

  /**
   * Creates or takes over a batch record for submission. Returns the lease, whether an earlier
   * holder's lease had expired (its submission may have reached the provider), or undefined if
   * the batch is already submitted or another invocation holds it.
   */
  async claimBatch(
    batch: Omit<BatchRecord, 'createdAt' | 'leaseUntil' | 'providerBatchId'>,
    leaseMs: number,
  ): Promise<{ lease: number; takeover: boolean } | undefined> {
    const now = this.clock().getTime();
    const lease = now + leaseMs;
    const existing = await this.getBatch(batch.jobId, batch.batchId);
    if (existing?.providerBatchId) return undefined;
    if (existing?.leaseUntil !== undefined && existing.leaseUntil >= now) return undefined;
    try {
      await this.dynamo.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.batch(batch.jobId, batch.batchId),
            ...batch,
            leaseUntil: lease,
            createdAt: existing?.createdAt ?? this.now(),
            ttl: this.ttlFromNow(2),
          },
          ConditionExpression:
            // A released batch (no lease: its submit failed and gave the claim back) may be claimed again.
            'attribute_not_exists(pk) OR (attribute_not_exists(providerBatchId) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now))',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return { lease, takeover: existing !== undefined };
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /** Records a batch's member list without a lease (responses mode: items carry their own claims). */
  async putBatch(batch: Omit<BatchRecord, 'createdAt'>): Promise<void> {
    try {
      await this.dynamo.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.batch(batch.jobId, batch.batchId), ...batch, createdAt: this.now(), ttl: this.ttlFromNow(2) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Records the provider's batch id, only for the lease holder. */
  async recordProviderBatch(jobId: string, batchId: string, providerBatchId: string, lease: number): Promise<boolean> {
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.batch(jobId, batchId),
          UpdateExpression: 'SET providerBatchId = :pid REMOVE leaseUntil',
          ConditionExpression: 'leaseUntil = :lease AND attribute_not_exists(providerBatchId)',
          ExpressionAttributeValues: { ':pid': providerBatchId, ':lease': lease },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseBatch(jobId: string, batchId: string, lease: number): Promise<void> {
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.batch(jobId, batchId),
          UpdateExpression: 'REMOVE leaseUntil',
          ConditionExpression: 'leaseUntil = :lease',
          ExpressionAttributeValues: { ':lease': lease },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markBatchCancelSent(jobId: string, batchId: string): Promise<void> {
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.batch(jobId, batchId),
        UpdateExpression: 'SET cancelSent = :yes',
        ExpressionAttributeValues: { ':yes': true },
      }),
    );
  }

  // ---------------------------------------------------------------- logs

  async appendLog(jobId: string, level: LogEntry['level'], message: string, data?: Record<string, unknown>): Promise<void> {
    const at = this.now();
    const entry: LogEntry = { jobId, at, level, message, ...(data ? { data } : {}) };
    await this.dynamo.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.log(jobId, at, randomUUID().slice(0, 8)), ...entry, ttl: this.ttlFromNow(2) },
      }),
    );
  }

  async listLogs(jobId: string, options: { limit?: number; cursor?: string } = {}): Promise<Page<LogEntry>> {
    const response = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.partition(jobId), ':prefix': keys.logPrefix },
        Limit: options.limit,
        ExclusiveStartKey: decodeCursor(options.cursor),
      }),
    );
    return {
      items: (response.Items ?? []).map((raw) => stripKeys<LogEntry>(raw) as LogEntry),
      cursor: encodeCursor(response.LastEvaluatedKey),
    };
  }
}

export { NON_TERMINAL_ITEM };
