import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AttemptStats, JobCounts, JobRecord, JobStatus, S3Location, TokenUsage } from '../types.js';
import {
  ConditionNotMet,
  RECORD_ABSENT,
  RECORD_EXISTS,
  RETURN_RECORD_ON_FAILURE,
  allOf,
  anyOf,
  conditionFields,
  tryConditional,
  type Condition,
} from './conditions.js';
import { JobProgress } from './job-progress.js';
import { ITEM_SHARDS } from './item-shards.js';
import { keys } from './keys.js';
import { fromStored, type Page, type StoreTable } from './store-table.js';
import { ITEM_SHARDS_ATTRIBUTE, JOBS_INDEX, TTL_ATTRIBUTE } from './table-schema.js';

export interface FinalJobState {
  status: JobStatus;
  counts: JobCounts;
  usage: TokenUsage;
  estimatedCostUsd?: number;
  results?: S3Location;
  error?: { name: string; message: string };
  /** Attempts per item, from the items themselves. */
  attempts?: AttemptStats;
}

/**
 * What changes on a job while it runs and the batch tasks need: the cancel flag, the latency
 * estimate later batches wait by, and the counts (a poll sees the job's end in them).
 */
export type LiveJobState = Pick<JobRecord, 'cancelRequested' | 'latencyEstimateSeconds' | 'counts'>;
const LIVE_JOB_FIELDS = ['jobId', 'cancelRequested', 'latencyEstimateSeconds', 'counts'] as const;

const TERMINAL_JOB: readonly JobStatus[] = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'];

/** The job exists and has not ended: what every change of a job's state requires. */
const JOB_OPEN: Condition = allOf(RECORD_EXISTS, {
  expression: `NOT #status IN (${TERMINAL_JOB.map((_, i) => `:t${i}`).join(', ')})`,
  names: { '#status': 'status' },
  values: Object.fromEntries(TERMINAL_JOB.map((status, i) => [`:t${i}`, status])),
});

/** The job exists, queued or running: a start may (still) take it. */
const JOB_STARTABLE: Condition = allOf(RECORD_EXISTS, {
  expression: '#status IN (:queued, :running)',
  names: { '#status': 'status' },
  values: { ':queued': 'QUEUED', ':running': 'RUNNING' },
});

/** The job ended FAILED, run by `executionArn`: what a redrive of that execution may reopen. */
function failedRunBy(executionArn: string): Condition {
  return allOf(RECORD_EXISTS, {
    expression: '#status = :failed AND executionArn = :arn',
    names: { '#status': 'status' },
    values: { ':failed': 'FAILED', ':arn': executionArn },
  });
}

/** No execution owns the job yet, or `executionArn` does. */
function ownedByOrFree(executionArn: string): Condition {
  return anyOf(
    { expression: 'attribute_not_exists(executionArn)' },
    { expression: 'executionArn = :arn', values: { ':arn': executionArn } },
  );
}

/** Job records: one per job, with its state and live counters, listed through the jobs index. */
export class JobRecords {
  constructor(private readonly table: StoreTable) {}

  /** Writes the job unless it exists; returns the stored job and whether this call created it. */
  async create(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { ...keys.job(job.jobId), ...keys.jobsIndexEntry(job), ...job, [ITEM_SHARDS_ATTRIBUTE]: ITEM_SHARDS },
          ...conditionFields(RECORD_ABSENT),
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );
    if (!(result instanceof ConditionNotMet)) return { job, created: true };
    const existing = await result.record(() => this.get(job.jobId));
    if (!existing) throw result.error;
    return { job: existing, created: false };
  }

  get(jobId: string): Promise<JobRecord | undefined> {
    return this.table.read<JobRecord>(keys.job(jobId));
  }

  /**
   * Only what changes while the job runs (a projection: the record's fixed options travel in
   * the workflow state), and its params when asked (when they were too large for the state).
   */
  async getLive(
    jobId: string,
    options: { params?: boolean } = {},
  ): Promise<(LiveJobState & { params?: Record<string, unknown> }) | undefined> {
    const names: Record<string, string> = Object.fromEntries(LIVE_JOB_FIELDS.map((field, i) => [`#f${i}`, field]));
    const projection = Object.keys(names);
    if (options.params) {
      Object.assign(names, { '#options': 'options', '#params': 'params' });
      projection.push('#options.#params');
    }
    const { Item } = await this.table.dynamo.send(
      new GetCommand({
        TableName: this.table.name,
        Key: keys.job(jobId),
        ConsistentRead: true,
        ProjectionExpression: projection.join(', '),
        ExpressionAttributeNames: names,
      }),
    );
    const stored = fromStored<LiveJobState & { jobId: string; options?: { params?: Record<string, unknown> } }>(Item);
    if (!stored) return undefined;
    const { jobId: _jobId, options: storedOptions, ...live } = stored;
    return { ...live, ...(storedOptions?.params !== undefined && { params: storedOptions.params }) };
  }

  /**
   * QUEUED -> RUNNING for the execution that owns the job (the first to claim it; a job already
   * running keeps its start time). Returns `owned: false`, changing nothing, when another
   * execution owns the job or the job has ended: a duplicated start then does no work.
   */
  async markRunning(
    jobId: string,
    executionArn: string | undefined,
  ): Promise<{ job: JobRecord | undefined; owned: boolean }> {
    const condition = executionArn ? allOf(JOB_STARTABLE, ownedByOrFree(executionArn)) : JOB_STARTABLE;
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.job(jobId),
          UpdateExpression:
            'SET #status = :running, startedAt = if_not_exists(startedAt, :now), updatedAt = :now' +
            (executionArn ? ', executionArn = :arn' : ''),
          ...conditionFields(condition, { values: { ':now': this.table.nowIso() } }),
          ReturnValues: 'ALL_NEW',
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );
    if (result instanceof ConditionNotMet) return { job: await result.record(() => this.get(jobId)), owned: false };
    return { job: fromStored<JobRecord>(result.Attributes), owned: true };
  }

  /** Sets the terminal state unless the job already has one. Returns false if it had. */
  async finish(jobId: string, final: FinalJobState): Promise<boolean> {
    // Only names the expression uses: DynamoDB rejects unused ExpressionAttributeNames.
    const names: Record<string, string> = { '#ttl': TTL_ATTRIBUTE, '#usage': 'usage' };
    const values: Record<string, unknown> = {
      ':status': final.status,
      ':counts': final.counts,
      ':usage': final.usage,
      ':now': this.table.nowIso(),
      ':ttl': this.table.ttlFromNow(),
    };
    const sets = [
      '#status = :status',
      'counts = :counts',
      '#usage = :usage',
      'completedAt = :now',
      'updatedAt = :now',
      '#ttl = :ttl',
    ];
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
    if (final.attempts) {
      sets.push('attempts = :attempts');
      values[':attempts'] = final.attempts;
    }
    return this.updateOpen(jobId, `SET ${sets.join(', ')}`, { names, values });
  }

  /** FAILED with the error, keeping the live counters; a terminal job is left alone. */
  fail(jobId: string, error: { name: string; message: string }): Promise<boolean> {
    return this.updateOpen(
      jobId,
      'SET #status = :failed, #error = :error, completedAt = :now, updatedAt = :now, #ttl = :ttl',
      {
        names: { '#error': 'error', '#ttl': TTL_ATTRIBUTE },
        values: { ':failed': 'FAILED', ':error': error, ':now': this.table.nowIso(), ':ttl': this.table.ttlFromNow() },
      },
    );
  }

  /** One update of a job that has not ended; false if it has. */
  private async updateOpen(
    jobId: string,
    updateExpression: string,
    update: { names: Record<string, string>; values: Record<string, unknown> },
  ): Promise<boolean> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.job(jobId),
          UpdateExpression: updateExpression,
          ...conditionFields(JOB_OPEN, update),
        }),
      ),
    );
    return !(result instanceof ConditionNotMet);
  }

  /**
   * Asks a job that has not ended to stop; the workflow's tasks see the flag and wind down.
   * Returns undefined if the job does not exist or has already ended.
   */
  async requestCancel(jobId: string): Promise<JobRecord | undefined> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.job(jobId),
          UpdateExpression: 'SET cancelRequested = :yes, updatedAt = :now',
          ...conditionFields(JOB_OPEN, { values: { ':yes': true, ':now': this.table.nowIso() } }),
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return result instanceof ConditionNotMet ? undefined : fromStored<JobRecord>(result.Attributes);
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
    const values: Record<string, unknown> = { ':now': this.table.nowIso() };
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
    await this.table.dynamo.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: keys.job(jobId),
        UpdateExpression: `${adds.length > 0 ? `ADD ${adds.join(', ')} ` : ''}SET ${sets.join(', ')}`,
        ...conditionFields(RECORD_EXISTS, { names, values }),
      }),
    );
  }

  /** Counts one item change on the job: into the caller's progress, else with an ADD of its own. */
  async count(
    jobId: string,
    progress: JobProgress | undefined,
    change: (progress: JobProgress) => void,
  ): Promise<void> {
    if (progress) {
      change(progress);
      return;
    }
    const own = new JobProgress();
    change(own);
    await this.addProgress(jobId, own);
  }

  /** One page of jobs, newest first, optionally only those with a status. */
  list(options: { status?: JobStatus; limit?: number; cursor?: string } = {}): Promise<Page<JobRecord>> {
    return this.table.queryPage<JobRecord>(
      {
        IndexName: JOBS_INDEX.name,
        KeyConditionExpression: `${JOBS_INDEX.partition} = :pk`,
        ScanIndexForward: false,
        ...(options.status
          ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }
          : {}),
        ExpressionAttributeValues: {
          ':pk': keys.jobsIndex.pk,
          ...(options.status ? { ':status': options.status } : {}),
        },
        Limit: options.limit,
      },
      options.cursor,
    );
  }

  /**
   * FAILED -> RUNNING for a redrive of the job's execution: the error, end time and expiry go, the
   * redrive is counted. Conditional, so of two redrives at once only one reopens the job. Returns
   * the reopened job, or undefined when it is not FAILED (any more) or another execution runs it.
   */
  async reopenForRedrive(jobId: string, executionArn: string): Promise<JobRecord | undefined> {
    const result = await tryConditional(
      this.table.dynamo.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: keys.job(jobId),
          UpdateExpression:
            'SET #status = :running, updatedAt = :now, redrivenAt = :now REMOVE #error, completedAt, #ttl, results ADD redriveCount :one',
          ...conditionFields(failedRunBy(executionArn), {
            names: { '#error': 'error', '#ttl': TTL_ATTRIBUTE },
            values: { ':running': 'RUNNING', ':now': this.table.nowIso(), ':one': 1 },
          }),
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return result instanceof ConditionNotMet ? undefined : fromStored<JobRecord>(result.Attributes);
  }

  /** Records the execution that runs the job (set by the API when it starts one). */
  async setExecutionArn(jobId: string, executionArn: string): Promise<void> {
    await this.table.dynamo.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: keys.job(jobId),
        UpdateExpression: 'SET executionArn = if_not_exists(executionArn, :arn), updatedAt = :now',
        ...conditionFields(RECORD_EXISTS, { values: { ':arn': executionArn, ':now': this.table.nowIso() } }),
      }),
    );
  }
}
