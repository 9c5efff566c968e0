import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys.js';
import { ITEM_SHARDS_ATTRIBUTE, TABLE_KEY } from './table-schema.js';

/**
 * How many partition keys a new job's item records are spread over. At R = 500 requests/s an
 * item costs about 3 writes (claim, SUBMITTED, end): 1,500 writes/s, about 94 a key at 16 keys,
 * a tenth of DynamoDB's 1,000 writes/s per partition key (room for R = 5,000/s, or for item
 * records past 1 KB, which cost more than one write unit each). Few enough that listing a job's
 * items (one Query per shard, an empty one costs half a read unit) stays cheap.
 */
export const ITEM_SHARDS = 16;

/** The layout of a job recorded before shards (no ITEM_SHARDS_ATTRIBUTE): every item under `JOB#<jobId>`. */
export const UNSHARDED = 0;

/** FNV-1a (32 bits) over the custom id's UTF-16 code units: stable across processes and releases. */
export function shardOf(customId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < customId.length; i++) {
    hash ^= customId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** The partition key of one shard of a job's items. */
export function itemShardPartition(jobId: string, shards: number, shard: number): string {
  return shards === UNSHARDED ? keys.partition(jobId) : `${keys.partition(jobId)}#I${shard}`;
}

/** The partition key an item's record is stored under. */
export function itemPartition(jobId: string, customId: string, shards: number): string {
  return itemShardPartition(jobId, shards, shards === UNSHARDED ? 0 : shardOf(customId, shards));
}

/** Every partition key of a job's items, shard 0 first. */
export function itemPartitions(jobId: string, shards: number): string[] {
  return Array.from({ length: Math.max(1, shards) }, (_, shard) => itemShardPartition(jobId, shards, shard));
}

/** An item record's key. */
export function itemKey(jobId: string, customId: string, shards: number) {
  return { ...keys.item(jobId, customId), [TABLE_KEY.partition]: itemPartition(jobId, customId, shards) };
}

/**
 * A job's shard count as its record says: UNSHARDED for a record written before shards, ITEM_SHARDS
 * for a job without a record (items written ahead of it, as some tests do), undefined never.
 */
export async function readItemShards(
  dynamo: Pick<DynamoDBDocumentClient, 'send'>,
  tableName: string,
  jobId: string,
): Promise<{ shards: number; recorded: boolean }> {
  const response = await dynamo.send(
    new GetCommand({
      TableName: tableName,
      Key: keys.job(jobId),
      ConsistentRead: true,
      ProjectionExpression: '#shards, jobId',
      ExpressionAttributeNames: { '#shards': ITEM_SHARDS_ATTRIBUTE },
    }),
  );
  const record = (response as { Item?: Record<string, unknown> } | undefined)?.Item;
  if (!record) return { shards: ITEM_SHARDS, recorded: false };
  const shards = record[ITEM_SHARDS_ATTRIBUTE];
  return { shards: typeof shards === 'number' ? shards : UNSHARDED, recorded: true };
}

const CACHED_JOBS = 1000;

/**
 * Each job's shard count, read once per process: it never changes once the job exists. A job
 * not (yet) recorded is not cached.
 */
export class ItemShards {
  private readonly known = new Map<string, number>();

  constructor(
    private readonly dynamo: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async of(jobId: string): Promise<number> {
    const known = this.known.get(jobId);
    if (known !== undefined) return known;
    const { shards, recorded } = await readItemShards(this.dynamo, this.tableName, jobId);
    if (recorded) {
      if (this.known.size >= CACHED_JOBS) this.known.clear();
      this.known.set(jobId, shards);
    }
    return shards;
  }

  /** An item record's key. */
  async key(jobId: string, customId: string): Promise<Record<string, string>> {
    return itemKey(jobId, customId, await this.of(jobId));
  }
}
