import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from '@jest/globals';
import { mergeBounded } from '../../shared/merge-bounded.js';
import { ITEM_SHARDS, itemPartition, itemPartitions, shardOf } from '../../shared/store/item-shards.js';
import { JobStore } from '../../shared/store/job-store.js';
import { keys } from '../../shared/store/keys.js';
import type { ItemRecord } from '../../shared/types.js';
import { finalizeJob } from '../../tasks/finalize-job.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import { createJob, newJobId, promptLines, resultsOf, useTaskTestEnv, type TaskTestEnv } from '../support/deps.js';

const env = useTaskTestEnv();
const PLACE = { index: 0, batchId: 'batch-0000000' };

/** A job of `count` items, the first `recorded` claimed (so recorded QUEUED); the first `succeeded` ended SUCCEEDED. */
async function jobOfItems(e: TaskTestEnv, count: number, succeeded = 0, recorded = count) {
  const created = await createJob(e, { lines: promptLines(count) });
  const { jobId } = created.job;
  for (const [index, item] of created.items.slice(0, recorded).entries()) {
    await e.store.claimItem(jobId, item.customId, 60_000, { ...PLACE, index });
    if (index < succeeded) await e.store.finishItem(jobId, item.customId, { status: 'SUCCEEDED' });
  }
  return created;
}

async function partitionOfStored(e: TaskTestEnv, jobId: string, customId: string): Promise<string[]> {
  const found: string[] = [];
  for (const pk of [keys.partition(jobId), ...itemPartitions(jobId, ITEM_SHARDS)]) {
    const { Items } = await e.dynamo.send(
      new QueryCommand({
        TableName: e.tableName,
        KeyConditionExpression: 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: { ':pk': pk, ':sk': `ITEM#${customId}` },
      }),
    );
    if (Items?.length) found.push(pk);
  }
  return found;
}

async function listAll(e: TaskTestEnv, jobId: string, options: { status?: ItemRecord['status']; limit: number }) {
  const pages: ItemRecord[][] = [];
  let cursor: string | undefined;
  do {
    const page = await e.store.listItems(jobId, { ...options, cursor });
    pages.push(page.items);
    cursor = page.cursor;
  } while (cursor && pages.length < 1000);
  return pages;
}

describe('item shards: the key layout', () => {
  test('GIVEN custom ids THEN each maps to a stable shard, and 10,000 ids spread evenly over the shards', () => {
    // Arrange
    const ids = Array.from({ length: 10_000 }, (_, i) => `item-${i}`);

    // Act
    const perShard = new Array<number>(ITEM_SHARDS).fill(0);
    for (const id of ids) perShard[shardOf(id, ITEM_SHARDS)] = (perShard[shardOf(id, ITEM_SHARDS)] ?? 0) + 1;

    // Assert: FNV-1a's reference values (a change would strand the items of running jobs), and an even spread
    expect(shardOf('a', 1000)).toBe(0xe40c292c % 1000);
    expect(shardOf('foobar', 1000)).toBe(0xbf9cf968 % 1000);
    expect(Math.max(...perShard)).toBeLessThan((1.2 * ids.length) / ITEM_SHARDS);
    expect(Math.min(...perShard)).toBeGreaterThan((0.8 * ids.length) / ITEM_SHARDS);
  });

  test('GIVEN a new job WHEN its items are written THEN each sits under JOB#<id>#I<shard>, none under the job partition', async () => {
    // Arrange
    const e = env();

    // Act
    const { job, items } = await jobOfItems(e, 6);

    // Assert
    const shardsUsed = new Set<string>();
    for (const item of items) {
      const stored = await partitionOfStored(e, job.jobId, item.customId);
      expect(stored).toEqual([`JOB#${job.jobId}#I${shardOf(item.customId, ITEM_SHARDS)}`]);
      shardsUsed.add(stored.join());
    }
    expect(shardsUsed.size).toBeGreaterThan(1);
    expect(await e.store.getJob(job.jobId)).not.toHaveProperty('itemShards');
  });

  test('GIVEN a job recorded before shards (no itemShards) WHEN its items are written and listed THEN they stay under JOB#<id>', async () => {
    // Arrange
    const e = env();
    const jobId = newJobId('legacy');
    const { job } = await createJob(e, { lines: promptLines(3), jobId });
    const { Items } = await e.dynamo.send(
      new QueryCommand({
        TableName: e.tableName,
        KeyConditionExpression: 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: { ':pk': keys.partition(jobId), ':sk': 'JOB' },
      }),
    );
    const { itemShards: _dropped, ...legacy } = Items?.[0] ?? {};
    await e.dynamo.send(new PutCommand({ TableName: e.tableName, Item: legacy }));
    const fresh = new JobStore(e.dynamo, e.tableName, 30, e.clock.now); // its shard counts not cached yet

    // Act
    await fresh.claimItem(jobId, 'item-001', 60_000, PLACE);
    const listed = await fresh.listItems(jobId);

    // Assert
    expect(await partitionOfStored(e, job.jobId, 'item-001')).toEqual([keys.partition(jobId)]);
    expect(listed.items.map((item) => item.customId)).toEqual(['item-001']);
    expect(itemPartition(jobId, 'item-001', 0)).toBe(keys.partition(jobId));
  });
});

describe('item shards: listing a job', () => {
  test('GIVEN 40 items over the shards WHEN listed 3 a page THEN the pages cover every item exactly once', async () => {
    // Arrange
    const e = env();
    const { job, items } = await jobOfItems(e, 40);

    // Act
    const pages = await listAll(e, job.jobId, { limit: 3 });

    // Assert
    const ids = pages.flat().map((item) => item.customId);
    expect(ids).toHaveLength(40);
    expect([...ids].sort()).toEqual(items.map((item) => item.customId).sort());
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(3);
  });

  test('GIVEN 30 items, 7 SUCCEEDED WHEN listed by status 2 a page THEN exactly those 7 come back, once each', async () => {
    // Arrange
    const e = env();
    const { job, items } = await jobOfItems(e, 30, 7);

    // Act
    const succeeded = (await listAll(e, job.jobId, { status: 'SUCCEEDED', limit: 2 })).flat();
    const queued = (await listAll(e, job.jobId, { status: 'QUEUED', limit: 5 })).flat();

    // Assert
    expect(succeeded.map((item) => item.customId).sort()).toEqual(items.slice(0, 7).map((item) => item.customId));
    expect(queued.map((item) => item.customId).sort()).toEqual(items.slice(7).map((item) => item.customId));
  });

  test('GIVEN a cursor this API did not return WHEN listing THEN it is refused as a RangeError', async () => {
    // Arrange
    const e = env();
    const { job } = await jobOfItems(e, 2);
    const forged = Buffer.from(JSON.stringify({ s: 99 })).toString('base64url');

    // Act
    const listing = e.store.listItems(job.jobId, { cursor: forged });

    // Assert
    await expect(listing).rejects.toThrow(RangeError);
  });

  test('GIVEN 25 items WHEN every item is read (the shards in parallel) THEN each comes once', async () => {
    // Arrange
    const e = env();
    const { job } = await jobOfItems(e, 25);

    // Act
    const ids: string[] = [];
    for await (const page of e.store.allItems(job.jobId)) ids.push(...page.map((item) => item.customId));

    // Assert
    expect(new Set(ids).size).toBe(25);
    expect(ids).toHaveLength(25);
  });
});

describe('item shards: the reducer', () => {
  test('GIVEN 30 items over the shards, 12 SUCCEEDED, 10 never sent, 8 never recorded WHEN the job is finalized THEN every item has one results line and the counts are exact', async () => {
    // Arrange
    const e = env();
    const { job, items } = await jobOfItems(e, 30, 12, 22);
    const context = await prepareJob(
      { input: { jobId: job.jobId }, executionArn: 'arn:aws:states:us-east-1:123456789012:execution:jobs:x' },
      e.deps,
    );

    // Act
    const summary = await finalizeJob({ job: context }, e.deps);

    // Assert
    expect(summary.counts).toEqual({ total: 30, submitted: 0, succeeded: 12, failed: 18, cancelled: 0 });
    const lines = resultsOf(e, job.jobId);
    expect(lines).toHaveLength(30);
    expect(lines.map((line) => line.custom_id).sort()).toEqual(items.map((item) => item.customId).sort());
  });
});

describe('mergeBounded', () => {
  test('GIVEN 5 sources WHEN merged 2 at a time THEN every value comes once and at most 2 sources are open at once', async () => {
    // Arrange
    let open = 0;
    let mostOpen = 0;
    const source = (n: number) =>
      async function* () {
        open++;
        mostOpen = Math.max(mostOpen, open);
        try {
          for (let i = 0; i < 3; i++) {
            await new Promise((resolve) => setImmediate(resolve));
            yield `${n}.${i}`;
          }
        } finally {
          open--;
        }
      };

    // Act
    const values: string[] = [];
    for await (const value of mergeBounded(
      [0, 1, 2, 3, 4].map((n) => () => source(n)()),
      2,
    ))
      values.push(value);

    // Assert
    expect(values).toHaveLength(15);
    expect(new Set(values).size).toBe(15);
    expect(mostOpen).toBe(2);
  });
});
