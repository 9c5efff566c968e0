import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mergeBounded } from '../merge-bounded.js';
import type { ItemRecord, ItemStatus } from '../types.js';
import { itemPartitions, type ItemShards } from './item-shards.js';
import { keys } from './keys.js';
import { decodeCursor, encodeCursor, fromStored, type Page, type StoreTable } from './store-table.js';
import { TABLE_KEY } from './table-schema.js';

export interface ItemListOptions {
  status?: ItemStatus;
  limit?: number;
  cursor?: string;
}

/**
 * Shards a whole-job read (the reducer, a redrive) queries at once: each holds a page of
 * read-ahead (up to 1 MB), so memory stays bounded, and 16 shards are read in two rounds.
 */
export const PARALLEL_SHARD_READS = 8;

interface ShardPage {
  items: ItemRecord[];
  lastKey?: Record<string, unknown>;
}

/**
 * A job's items across its shards (item-shards.ts). A page lists shard 0 first, then 1, ...; in
 * custom id order within a shard. The cursor is opaque: the shard and DynamoDB's
 * LastEvaluatedKey in it.
 */
export class ItemListing {
  constructor(
    private readonly table: StoreTable,
    private readonly shards: ItemShards,
  ) {}

  /**
   * One page. It moves on to the next shard only when a shard is read to its end and the page
   * is not full, so one call queries each shard at most once and evaluates at most `limit`
   * records a shard (a status filter can leave a page short, with a cursor, as one Query would).
   */
  async page(jobId: string, options: ItemListOptions = {}): Promise<Page<ItemRecord>> {
    const partitions = itemPartitions(jobId, await this.shards.of(jobId));
    let { shard, key } = decodeShardCursor(options.cursor, partitions.length);
    const items: ItemRecord[] = [];
    while (shard < partitions.length) {
      const limit = options.limit === undefined ? undefined : options.limit - items.length;
      const page = await this.query(partitions[shard] as string, { status: options.status, limit, start: key });
      items.push(...page.items);
      key = page.lastKey;
      if (key) break;
      shard++;
      if (options.limit === undefined ? items.length > 0 : items.length >= options.limit) break;
    }
    return {
      items,
      cursor: shard < partitions.length ? encodeCursor({ s: shard, ...(key && { k: key }) }) : undefined,
    };
  }

  /** Every item of the job, a page at a time, shards read in parallel: pages come in the order they are read. */
  async *all(jobId: string, concurrency = PARALLEL_SHARD_READS): AsyncGenerator<ItemRecord[]> {
    const partitions = itemPartitions(jobId, await this.shards.of(jobId));
    yield* mergeBounded(
      partitions.map((partition) => () => this.pagesOf(partition)),
      concurrency,
    );
  }

  private async *pagesOf(partition: string): AsyncGenerator<ItemRecord[]> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.query(partition, { start });
      if (page.items.length > 0) yield page.items;
      start = page.lastKey;
    } while (start);
  }

  private async query(
    partition: string,
    options: { status?: ItemStatus; limit?: number; start?: Record<string, unknown> },
  ): Promise<ShardPage> {
    const { status, limit, start } = options;
    const response = await this.table.dynamo.send(
      new QueryCommand({
        TableName: this.table.name,
        KeyConditionExpression: `${TABLE_KEY.partition} = :pk AND begins_with(${TABLE_KEY.sort}, :prefix)`,
        ...(status ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } } : {}),
        ExpressionAttributeValues: {
          ':pk': partition,
          ':prefix': keys.itemPrefix,
          ...(status && { ':status': status }),
        },
        Limit: limit,
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    return {
      items: (response.Items ?? []).map((raw) => fromStored<ItemRecord>(raw) as ItemRecord),
      lastKey: response.LastEvaluatedKey,
    };
  }
}

/** The shard and the position in it a cursor names: the first shard's start without one. */
function decodeShardCursor(
  cursor: string | undefined,
  shards: number,
): { shard: number; key?: Record<string, unknown> } {
  const decoded = decodeCursor(cursor);
  if (!decoded) return { shard: 0 };
  const { s, k } = decoded;
  if (!Number.isInteger(s) || (s as number) < 0 || (s as number) > shards || (k !== undefined && typeof k !== 'object'))
    throw new RangeError('cursor is not one this API returned');
  return { shard: s as number, ...(k ? { key: k as Record<string, unknown> } : {}) };
}
