import { createHash } from 'node:crypto';
import { isConditionFailure } from '../store/conditions.js';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BucketState } from './bucket.js';

/**
 * The key of a provider key's bucket in the job table. It shares the table's pk/sk layout
 * (see shared/store/keys.ts) under its own prefix:
 *
 *   pk                 sk       record
 *   RATE#<keyId>       BUCKET   the shared rate-limit bucket of one provider key
 */
export const rateBucketKey = (keyId: string) => ({ pk: `RATE#${keyId}`, sk: 'BUCKET' });

/**
 * A short, stable id of a provider key: the first 16 hex digits of SHA-256 over the base URL and
 * the API key. Every process using the same key on the same endpoint shares one bucket; the key
 * itself is never stored.
 */
export function providerKeyId(baseURL: string | undefined, apiKey: string): string {
  const endpoint = (baseURL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return createHash('sha256').update(`${endpoint}\n${apiKey}`).digest('hex').slice(0, 16);
}

const STATE_FIELDS = [
  'limitRequests',
  'limitTokens',
  'learned',
  'factor',
  'factorAt',
  'cutAt',
  'paceRequests',
  'paceTokens',
  'tatRequests',
  'tatTokens',
  'pausedUntil',
  'epoch',
] as const satisfies readonly (keyof BucketState)[];

/** An idle bucket's item expires after a week (DynamoDB TTL); every write pushes that back. */
const BUCKET_TTL_SECONDS = 7 * 86_400;

/**
 * The bucket's one DynamoDB item: read, and written only with a condition on the version it was
 * read at (optimistic concurrency, no transactions). A write that loses the race returns
 * undefined; the caller reads again and recomputes.
 */
export class RateBucketTable {
  constructor(
    private readonly dynamo: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    readonly keyId: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async read(): Promise<BucketState | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: rateBucketKey(this.keyId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const state = { version: Number(Item.version ?? 0) } as BucketState;
    for (const field of STATE_FIELDS) (state as unknown as Record<string, unknown>)[field] = Item[field];
    state.learned = Item.learned === true;
    state.epoch = Number(Item.epoch ?? 0);
    return state;
  }

  /**
   * Stores `next` if the item is still at `expectedVersion` (0: if it does not exist yet).
   * Returns the stored state (version bumped), or undefined if another writer got there first.
   */
  async write(next: BucketState, expectedVersion: number): Promise<BucketState | undefined> {
    const version = expectedVersion + 1;
    const values: Record<string, unknown> = {
      ':version': version,
      ':ttl': Math.floor(this.clock() / 1000) + BUCKET_TTL_SECONDS,
      ':keyId': this.keyId,
    };
    const sets = ['#version = :version', '#ttl = :ttl', 'keyId = :keyId'];
    for (const field of STATE_FIELDS) {
      sets.push(`${field} = :${field}`);
      values[`:${field}`] = next[field];
    }
    if (expectedVersion > 0) values[':expected'] = expectedVersion;
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: rateBucketKey(this.keyId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: expectedVersion > 0 ? '#version = :expected' : 'attribute_not_exists(pk)',
          ExpressionAttributeNames: { '#version': 'version', '#ttl': 'ttl' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
    return { ...next, version };
  }
}
