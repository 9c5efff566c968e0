import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pMap from 'p-map';
import { isConditionFailure } from '../../shared/store/conditions.js';
import { itemPartitions, readItemShards } from '../../shared/store/item-shards.js';
import { jobRecordsQuery, keys } from '../../shared/store/keys.js';
import type { ItemStatus, JobCounts, TokenUsage } from '../../shared/types.js';

const WRITE_CONCURRENCY = 16;
const BATCH_PREFIX = 'BATCH#';

/** What a resume found and changed. */
export interface TakeOver {
  /** Items in a terminal state. */
  done: number;
  /** Leases of the dead process given up (item claims in responses mode, batch claims in batch mode). */
  leasesTaken: number;
  /** Submitted items whose provider is gone (the built-in mock's, resumed with a real one), queued to be sent again. */
  requeued: number;
}

interface ItemRow {
  pk: string;
  sk: string;
  batchId?: string;
  status: ItemStatus;
  leaseUntil?: number;
  providerId?: string;
  usage?: TokenUsage;
}

interface BatchRow {
  pk: string;
  sk: string;
  batchId: string;
  leaseUntil?: number;
  providerBatchId?: string;
}

/**
 * Makes a job whose process died ready for a new execution in this one. Only one process opens a
 * data dir at a time (lock.ts), so every lease in it belongs to a dead process: they are given up
 * now, rather than waited out (a submit lease outlives a Lambda's timeout, minutes), and the new
 * execution's claims take the records over as after any expired lease (a batch-mode claim then
 * looks for the provider batch the dead holder may have made). A request whose send was in flight
 * at the death may so be sent once more; nothing recorded SUBMITTED is, unless `providerLost`:
 * the job moves from the built-in mock (its work kept in the data dir) to a real provider, which
 * never saw its responses and batches, so its submitted items are queued
 * again. Last, the job's live counters are set from the items (the dead tasks' last counts never
 * reached them).
 */
export async function takeOverJob(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  jobId: string,
  options: { providerLost: boolean },
): Promise<TakeOver> {
  const items = await itemRows(dynamo, tableName, jobId);
  const batches = await queryAll<BatchRow>(dynamo, tableName, jobId, BATCH_PREFIX, [
    'batchId',
    'leaseUntil',
    'providerBatchId',
  ]);
  // Each row's own key: items sit in their shard's partition.
  const update = async (
    row: { pk: string; sk: string },
    expression: string,
    condition: string,
    values: Record<string, unknown>,
  ) => {
    try {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: row.pk, sk: row.sk },
          UpdateExpression: expression,
          ConditionExpression: condition,
          ...(`${expression} ${condition}`.includes('#status') && {
            ExpressionAttributeNames: { '#status': 'status' },
          }),
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false; // changed since it was read: nothing of ours to give up
      throw error;
    }
  };
  const SUBMITTED_CONDITION = '#status = :submitted';
  let leasesTaken = 0;
  let requeued = 0;
  const lostBatches = new Set<string>();
  await pMap(
    items,
    async (item) => {
      if (options.providerLost && item.status === 'SUBMITTED') {
        const done = await update(item, 'SET #status = :queued REMOVE providerId, leaseUntil', SUBMITTED_CONDITION, {
          ':submitted': 'SUBMITTED',
          ':queued': 'QUEUED',
        });
        if (done) {
          requeued++;
          item.status = 'QUEUED';
          delete item.providerId;
          if (item.batchId) lostBatches.add(item.batchId);
        }
      } else if (item.leaseUntil !== undefined) {
        if (await update(item, 'REMOVE leaseUntil', 'leaseUntil = :lease', { ':lease': item.leaseUntil }))
          leasesTaken++;
      }
    },
    { concurrency: WRITE_CONCURRENCY },
  );
  await pMap(
    batches,
    async (batch) => {
      if (options.providerLost && batch.providerBatchId && lostBatches.has(batch.batchId)) {
        // Claimable again: the next claim is a takeover, which looks for the batch first and then makes a new one.
        await update(batch, 'REMOVE providerBatchId, leaseUntil, cancelSent', 'providerBatchId = :pid', {
          ':pid': batch.providerBatchId,
        });
      } else if (batch.leaseUntil !== undefined) {
        if (await update(batch, 'REMOVE leaseUntil', 'leaseUntil = :lease', { ':lease': batch.leaseUntil }))
          leasesTaken++;
      }
    },
    { concurrency: WRITE_CONCURRENCY },
  );
  const counts = countsOf(items);
  await dynamo.send(
    new UpdateCommand({
      TableName: tableName,
      Key: keys.job(jobId),
      UpdateExpression:
        'SET counts.submitted = :submitted, counts.succeeded = :succeeded, counts.failed = :failed, ' +
        'counts.cancelled = :cancelled, #usage = :usage',
      ExpressionAttributeNames: { '#usage': 'usage' },
      ExpressionAttributeValues: {
        ':submitted': counts.submitted,
        ':succeeded': counts.succeeded,
        ':failed': counts.failed,
        ':cancelled': counts.cancelled,
        ':usage': counts.usage,
      },
    }),
  );
  return { done: counts.succeeded + counts.failed + counts.cancelled, leasesTaken, requeued };
}

/**
 * Sets the job's providerSubmitCalls to `total` when it is short of it (the dead process's last
 * tasks made calls they never added). A SET, not an ADD: a resume killed before it had started
 * its own session sets the same total again.
 */
export async function settleSubmitCalls(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  jobId: string,
  total: number,
): Promise<void> {
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.job(jobId),
        UpdateExpression: 'SET providerSubmitCalls = :total',
        ConditionExpression: 'attribute_not_exists(providerSubmitCalls) OR providerSubmitCalls < :total',
        ExpressionAttributeValues: { ':total': total },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/**
 * A job's items done (terminal), counted from the items themselves: a job whose process died
 * has live counters short of them.
 */
export async function itemsDone(dynamo: DynamoDBDocumentClient, tableName: string, jobId: string): Promise<number> {
  const counts = countsOf(await itemRows(dynamo, tableName, jobId));
  return counts.succeeded + counts.failed + counts.cancelled;
}

/** A job's items, every shard of them. */
async function itemRows(dynamo: DynamoDBDocumentClient, tableName: string, jobId: string): Promise<ItemRow[]> {
  const { shards } = await readItemShards(dynamo, tableName, jobId);
  const rows: ItemRow[] = [];
  for (const partition of itemPartitions(jobId, shards)) {
    const fields = ['batchId', 'status', 'leaseUntil', 'providerId', 'usage'];
    rows.push(...(await queryAll<ItemRow>(dynamo, tableName, jobId, keys.itemPrefix, fields, partition)));
  }
  return rows;
}

function countsOf(items: ItemRow[]): Omit<JobCounts, 'total'> & { usage: TokenUsage } {
  const counts = { submitted: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  for (const item of items) {
    if (item.providerId) counts.submitted++;
    if (item.status === 'SUCCEEDED') counts.succeeded++;
    else if (item.status === 'FAILED') counts.failed++;
    else if (item.status === 'CANCELLED') counts.cancelled++;
    usage.inputTokens += item.usage?.inputTokens ?? 0;
    usage.outputTokens += item.usage?.outputTokens ?? 0;
  }
  return { ...counts, usage };
}

async function queryAll<T>(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  jobId: string,
  prefix: string,
  fields: string[],
  partition = keys.partition(jobId),
): Promise<T[]> {
  const query = jobRecordsQuery(jobId, prefix);
  const names = Object.fromEntries(['pk', 'sk', ...fields].map((field, i) => [`#f${i}`, field]));
  const rows: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: query.KeyConditionExpression,
        ExpressionAttributeValues: { ...query.values, ':pk': partition },
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    rows.push(...((page.Items ?? []) as T[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return rows;
}
