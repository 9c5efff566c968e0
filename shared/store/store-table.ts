import { GetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { PLACEMENT_ATTRIBUTES } from './table-schema.js';

export interface Page<T> {
  items: T[];
  cursor?: string;
}

/**
 * The job table as each record kind sees it: the client, the table name, the one clock and the
 * records' time to live. Shared by the job, item, batch and log modules.
 */
export class StoreTable {
  constructor(
    readonly dynamo: DynamoDBDocumentClient,
    readonly name: string,
    private readonly ttlDays: number,
    private readonly clock: () => Date,
  ) {}

  nowMs(): number {
    return this.clock().getTime();
  }

  nowIso(): string {
    return this.clock().toISOString();
  }

  /** The TTL attribute's value (epoch seconds) for a record that should outlive now by the TTL and `extraDays`. */
  ttlFromNow(extraDays = 0): number {
    return Math.floor(this.nowMs() / 1000) + (this.ttlDays + extraDays) * 86_400;
  }

  /** One record by its key, read consistently, without its placement attributes. */
  async read<T>(key: Record<string, string>): Promise<T | undefined> {
    const { Item } = await this.dynamo.send(new GetCommand({ TableName: this.name, Key: key, ConsistentRead: true }));
    return fromStored<T>(Item);
  }

  /** One page of a query; the cursor is the opaque form of DynamoDB's LastEvaluatedKey. */
  async queryPage<T>(
    query: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>,
    cursor: string | undefined,
  ): Promise<Page<T>> {
    const response = await this.dynamo.send(
      new QueryCommand({ ...query, TableName: this.name, ExclusiveStartKey: decodeCursor(cursor) }),
    );
    return {
      items: (response.Items ?? []).map((raw) => fromStored<T>(raw) as T),
      cursor: encodeCursor(response.LastEvaluatedKey),
    };
  }
}

/** A stored record without the attributes that only place it in the table (keys, index keys, TTL). */
export function fromStored<T>(record: Record<string, unknown> | undefined): T | undefined {
  if (!record) return undefined;
  const rest = { ...record };
  for (const attribute of PLACEMENT_ATTRIBUTES) delete rest[attribute];
  return rest as T;
}

export function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
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
